"""Dashboard views for accounts, workspaces, members, settings and API keys."""

from django.http import HttpResponse
from django.shortcuts import render

from .access import member_view


def home(request):
    if not request.user.is_authenticated:
        return render(request, "home.html")
    return HttpResponse("dashboard home")


def signup(request):
    return HttpResponse("sign up")


def workspace_create(request):
    return HttpResponse("new workspace")


@member_view()
def workspace_home(request, slug):
    return HttpResponse("workspace")


@member_view()
def members(request, slug):
    return HttpResponse("members")


@member_view()
def settings_view(request, slug):
    return HttpResponse("settings")


@member_view()
def keys(request, slug):
    return HttpResponse("keys")


@member_view("developer")
def key_revoke(request, slug, key_id):
    return HttpResponse("revoke")
