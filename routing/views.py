"""Dashboard views for routers, the playground and the model catalog."""

from django.http import HttpResponse

from workspaces.access import member_view


@member_view()
def routers(request, slug):
    return HttpResponse("routers")


@member_view()
def router_edit(request, slug, name):
    return HttpResponse("router")


@member_view()
def playground(request, slug):
    return HttpResponse("playground")


@member_view()
def models_view(request, slug):
    return HttpResponse("models")
