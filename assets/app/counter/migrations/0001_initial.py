from django.db import migrations, models


def create_visits_counter(apps, schema_editor):
    Counter = apps.get_model("counter", "Counter")
    Counter.objects.using(schema_editor.connection.alias).get_or_create(name="visits", defaults={"value": 0})


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Counter",
            fields=[
                ("name", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="NumberedWrite",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("n", models.BigIntegerField(unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RunPython(create_visits_counter, migrations.RunPython.noop),
    ]
