from django.db import migrations


def seed(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    Router = apps.get_model("routing", "Router")
    for workspace in Workspace.objects.all():
        Router.objects.get_or_create(
            workspace=workspace, name="auto", defaults={"strategy": "cheapest", "candidates": []}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0003_routers_and_provider_limits"),
        ("workspaces", "0002_workspace_keep_response_history"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
