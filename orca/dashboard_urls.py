"""Dashboard URLs (namespace `dashboard`). Views live in their apps; wiring stays here."""

from django.urls import path

from billing import views as billing_views
from guardrails import views as guardrail_views
from prompts import views as prompt_views
from routing import views as routing_views
from workspaces import management_views
from workspaces import views as workspace_views

app_name = "dashboard"

urlpatterns = [
    path("", workspace_views.home, name="home"),
    path("accounts/signup/", workspace_views.signup, name="signup"),
    path("w/new/", workspace_views.workspace_create, name="workspace_create"),
    path("w/<slug:slug>/", workspace_views.workspace_home, name="workspace"),
    path("w/<slug:slug>/members/", workspace_views.members, name="members"),
    path("w/<slug:slug>/settings/", workspace_views.settings_view, name="settings"),
    path("w/<slug:slug>/keys/", workspace_views.keys, name="keys"),
    path("w/<slug:slug>/keys/<int:key_id>/", workspace_views.key_edit, name="key_edit"),
    path("w/<slug:slug>/keys/<int:key_id>/revoke/", workspace_views.key_revoke, name="key_revoke"),
    path(
        "w/<slug:slug>/management-keys/",
        management_views.management_keys,
        name="management_keys",
    ),
    path(
        "w/<slug:slug>/management-keys/<int:management_key_id>/revoke/",
        management_views.management_key_revoke,
        name="management_key_revoke",
    ),
    path("w/<slug:slug>/routers/", routing_views.routers, name="routers"),
    path("w/<slug:slug>/routers/<str:name>/", routing_views.router_edit, name="router_edit"),
    path("w/<slug:slug>/playground/", routing_views.playground, name="playground"),
    path("w/<slug:slug>/playground/chat/", routing_views.playground_chat, name="playground_chat"),
    path("w/<slug:slug>/models/", routing_views.models_view, name="models"),
    path("w/<slug:slug>/providers/", routing_views.providers, name="providers"),
    path(
        "w/<slug:slug>/providers/<slug:provider>/delete/",
        routing_views.provider_delete,
        name="provider_delete",
    ),
    path("w/<slug:slug>/prompts/", prompt_views.prompts, name="prompts"),
    path(
        "w/<slug:slug>/prompts/<str:prompt_name>/",
        prompt_views.prompt_edit,
        name="prompt_edit",
    ),
    path(
        "w/<slug:slug>/prompts/<str:prompt_name>/render/",
        prompt_views.prompt_render,
        name="prompt_render",
    ),
    path("w/<slug:slug>/guardrails/", guardrail_views.guardrails, name="guardrails"),
    path(
        "w/<slug:slug>/guardrails/matches/",
        guardrail_views.guardrail_matches,
        name="guardrail_matches",
    ),
    path(
        "w/<slug:slug>/guardrails/<int:guardrail_id>/",
        guardrail_views.guardrail_edit,
        name="guardrail_edit",
    ),
    path(
        "w/<slug:slug>/guardrails/<int:guardrail_id>/sandbox/",
        guardrail_views.guardrail_sandbox,
        name="guardrail_sandbox",
    ),
    path("w/<slug:slug>/usage/", billing_views.usage, name="usage"),
    path("w/<slug:slug>/usage/<str:request_id>/", billing_views.usage_detail, name="usage_detail"),
    path("w/<slug:slug>/ledger/", billing_views.ledger, name="ledger"),
    path("w/<slug:slug>/credits/", billing_views.credits, name="credits"),
]
