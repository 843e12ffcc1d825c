"""French and English: the catalogue is complete, pages speak the person's language with the
documentation's words, and a saved preference wins over the browser's."""
import re
import shutil
import subprocess
import sys

import pytest
from django.urls import reverse

from .conftest import ROOT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def _msgids(po_text: str) -> set[str]:
    """Every msgid of a catalogue, its continuation lines joined (wrapping differs by tool)."""
    blocks = re.findall(r'^msgid ((?:".*"\n)+)', po_text + "\n", flags=re.M)
    return {"".join(re.findall(r'"(.*)"', block)) for block in blocks} - {""}


def test_the_french_catalogue_is_complete():
    checked = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(CATALOGUE)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    statistics = checked.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ translated messages\.", statistics), statistics  # no fuzzy, no untranslated


def test_the_catalogue_holds_every_string_of_the_code(tmp_path):
    """A string marked for translation but missing from the catalogue would show in English."""
    for name in ("manage.py", "inboundflow", "webhooks", "templates", "locale"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-location", "--no-obsolete", "--verbosity", "0"],
        cwd=tmp_path, check=True, capture_output=True,
    )
    fresh = (tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po").read_text()
    missing = _msgids(fresh) - _msgids(CATALOGUE.read_text())
    assert not missing, f"run `manage.py makemessages -l fr` and translate: {sorted(missing)}"


def _get(client, url, language):
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_pages_speak_french_with_the_documentation_s_words(client, user):
    client.force_login(user)
    listing = _get(client, reverse("webhooks:integration-list"), "fr-FR,fr;q=0.9,en;q=0.5")
    assert '<html lang="fr">' in listing
    for words in ("Paramètres → Intégrations", "Connecter", "Webhook Personnalisé", "Toute URL acceptant HTTP POST"):
        assert words in listing, words
    form = _get(client, reverse("webhooks:integration-create") + "?kind=custom", "fr")
    for words in ("Tester le Webhook", "Enregistrer", "URL du webhook (doit être HTTPS)", "Chaque appel terminé",
                  "Nouveau prospect capturé"):
        assert words in form, words


def test_errors_are_in_french_too(client, user, settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    client.force_login(user)
    page = client.post(
        reverse("webhooks:integration-create"),
        {"kind": "custom", "name": "CRM", "target_url": "http://8.8.8.8/hook", "event_types": []},
        HTTP_ACCEPT_LANGUAGE="fr",
    ).content.decode()
    assert "L&#x27;URL du webhook doit utiliser HTTPS" in page or "L'URL du webhook doit utiliser HTTPS" in page
    assert "Sélectionnez au moins un événement à recevoir." in page


def test_english_for_an_english_browser(client, user):
    client.force_login(user)
    listing = _get(client, reverse("webhooks:integration-list"), "en-US,en;q=0.9")
    assert '<html lang="en">' in listing and "Settings → Integrations" in listing and "Custom webhook" in listing


def test_the_switcher_is_remembered_on_the_account(client, user):
    client.force_login(user)
    response = client.post(reverse("language-set"), {"language": "fr", "next": "/settings/integrations/"},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "fr"
    # the account's preference wins over an English browser, on any device
    client.cookies.clear()
    client.force_login(user)
    assert "Paramètres → Intégrations" in _get(client, reverse("webhooks:integration-list"), "en")


def test_every_page_has_the_switcher(client, user):
    assert 'id="language-switch"' in client.get(reverse("login")).content.decode()
    client.force_login(user)
    assert 'id="language-switch"' in client.get(reverse("webhooks:integration-list")).content.decode()


def test_a_person_who_never_chose_keeps_their_browser_s_language_for_e_mails_too(client, user):
    client.force_login(user)
    client.get(reverse("webhooks:integration-list"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    user.refresh_from_db()
    assert user.language == "fr"
    client.get(reverse("webhooks:integration-list"), HTTP_ACCEPT_LANGUAGE="en")  # a choice is not overwritten
    user.refresh_from_db()
    assert user.language == "fr"
