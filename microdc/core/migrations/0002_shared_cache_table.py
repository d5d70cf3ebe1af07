from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The "shared" cache (login throttle, websocket connections) is a database table when there is no Redis;
    # creating it here means every `migrate` (make run, make demo, a fresh install) has it. Idempotent.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
