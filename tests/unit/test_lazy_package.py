"""``lazy_packages``: a package's ``__init__`` names imported one by one when first read."""

import os
import subprocess
import sys

import pytest

from tools.lazy_package import lazy_packages

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def package(tmp_path, monkeypatch):
    """``lazypkg``: an ``__init__`` importing a light and a heavy class, and a version."""
    folder = tmp_path / "lazypkg"
    (folder / "models").mkdir(parents=True)
    (folder / "__init__.py").write_text(
        "from lazypkg.light import Light\nfrom lazypkg.models.heavy import Heavy as Heavy\nVERSION = '1.0'\n"
    )
    (folder / "light.py").write_text("from lazypkg import helper\nclass Light:\n    helper = helper.VALUE\n")
    (folder / "helper.py").write_text("VALUE = 42\n")
    (folder / "models" / "__init__.py").write_text("from lazypkg.models.heavy import Heavy\n")
    (folder / "models" / "heavy.py").write_text("class Heavy:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lazypkg"
    for name in [name for name in sys.modules if name.split(".")[0] == "lazypkg"]:
        del sys.modules[name]


def test_a_name_imports_its_own_module_only(package):
    assert lazy_packages("lazypkg", "lazypkg.models")
    from lazypkg import Light  # noqa: PLC0415 - the import is what is tested

    assert Light.helper == 42  # ``from lazypkg import helper``: a submodule, imported as one
    assert "lazypkg.models.heavy" not in sys.modules
    import lazypkg  # noqa: PLC0415

    assert lazypkg.Heavy is sys.modules["lazypkg.models.heavy"].Heavy
    assert lazypkg.models.Heavy is lazypkg.Heavy


def test_a_name_its_init_does_not_import_runs_the_real_init(package):
    assert lazy_packages("lazypkg", "lazypkg.models")
    import lazypkg  # noqa: PLC0415

    assert "lazypkg.models.heavy" not in sys.modules
    assert lazypkg.VERSION == "1.0"
    assert "lazypkg.models.heavy" in sys.modules  # the package as it ships, from then on
    with pytest.raises(AttributeError):
        lazypkg.missing  # noqa: B018 - the read is what is tested


def test_nothing_changes_for_a_package_imported_already_or_unreadable(package, tmp_path):
    import lazypkg  # noqa: PLC0415

    assert not lazy_packages("lazypkg")
    assert sys.modules["lazypkg"] is lazypkg
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("from brokenpkg.x import (\n")
    assert not lazy_packages("brokenpkg")
    assert "brokenpkg" not in sys.modules
    (tmp_path / "plainmod.py").write_text("VALUE = 1\n")
    assert not lazy_packages("plainmod")  # a module, not a package: left to the usual import
    assert "plainmod" not in sys.modules


def test_infobip_sdk_imports_its_sms_part_alone(simulator):
    """The SDK's ~800 models: sending, its errors, status lookups and the health check use 58 of
    them; the rest of the package still reads as it ships."""
    script = """
import sys
from tools.providers.base import OutboundMessage, ProviderError
from tools.providers.infobip import InfobipProvider, sdk
from tools.simulator.control import configure

def models():
    return sum(name.startswith("infobip_api_client.models.") for name in sys.modules)

provider = InfobipProvider(base_url=sys.argv[1], api_key="key", sender="ACME")
provider.send(OutboundMessage(to="+32470123456", channel="sms", text="hi", client_ref="lazy-1"))
provider.lookup_statuses(["lazy-1"])
provider.check_health()
configure(sys.argv[1], infobip_api_key="right")
try:
    provider.send(OutboundMessage(to="+32470123456", channel="sms", text="hi"))
except ProviderError as error:
    print(error.kind)
print(models())
import infobip_api_client
print(infobip_api_client.SmsApi is sdk().SmsApi, infobip_api_client.__version__)
print(models())
"""
    run = subprocess.run(
        [sys.executable, "-c", script, simulator], cwd=ROOT, capture_output=True, text=True, check=True
    )
    kind, used, same_and_version, whole = run.stdout.split("\n")[:4]
    assert kind == "config"  # the SDK's ApiException, read as the wrong key it is
    assert int(used) < 100
    assert same_and_version.startswith("True ")
    assert int(whole) > 700
