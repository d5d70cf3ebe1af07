from django.db import migrations, models


def names_from_latest_values(apps, schema_editor):
    # What each node source reported last is the best record of its names before they were counted.
    Source = apps.get_model("telemetry", "Source")
    for source in Source.objects.filter(node__isnull=False).only("pk", "last_values").iterator():
        if isinstance(source.last_values, dict) and source.last_values:
            Source.objects.filter(pk=source.pk).update(metric_names=sorted(source.last_values))


class Migration(migrations.Migration):

    dependencies = [
        ("telemetry", "0002_rollup_claims"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="metric_names",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(names_from_latest_values, migrations.RunPython.noop),
    ]
