import stat

import pytest
from django.core.management import call_command

from microdc.core.models import User
from microdc.nodes.models import Accelerator, FacilityMeter, Node, Rack, Site


@pytest.mark.django_db
def test_demo_site_is_complete_simulated_and_idempotent(settings, tmp_path, capsys):
    settings.DATA_DIR = tmp_path
    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = (Site.objects.count(), Rack.objects.count(), Node.objects.count(), Accelerator.objects.count(),
              FacilityMeter.objects.count(), User.objects.count())
    assert counts[1] >= 2 and counts[2] >= 4 and counts[3] >= 16
    kinds = set(FacilityMeter.objects.values_list("kind", flat=True))
    assert {"utility_feed", "ups", "pdu", "cooling_unit"} <= kinds
    assert FacilityMeter.objects.filter(kind="pdu").count() >= 2
    for model in (Site, Rack, Node, Accelerator, FacilityMeter):
        assert not model.objects.filter(simulated=False).exists(), model
    assert "SIMULATED" in first and "admin" in first

    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "nothing to create" in second
    assert counts == (Site.objects.count(), Rack.objects.count(), Node.objects.count(),
                      Accelerator.objects.count(), FacilityMeter.objects.count(), User.objects.count())
    credentials = tmp_path / "demo_credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    password = first.split("  admin ")[1].split("password:")[1].split()[0]
    assert User.objects.get(username="admin").check_password(password)
