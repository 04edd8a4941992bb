"""Dashboard views for usage, the request log and the ledger."""

from django.http import HttpResponse

from workspaces.access import member_view


@member_view()
def usage(request, slug):
    return HttpResponse("usage")


@member_view()
def usage_detail(request, slug, request_id):
    return HttpResponse("detail")


@member_view()
def ledger(request, slug):
    return HttpResponse("ledger")
