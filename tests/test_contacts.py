"""The contact book: a name is bound to one identity and never rebound silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshnode.crypto.identity import Identity
from meshnode.daemon.contacts import ContactBook, ContactError, Problem, normalise_fingerprint


def test_contacts_are_found_by_name_key_and_fingerprint(tmp_path: Path) -> None:
    book = ContactBook(tmp_path / "contacts.db")
    bram = Identity.generate().public
    contact = book.add("Bram", bram, 100)
    assert book.add("Bram", bram, 200) == contact  # idempotent
    book.close()
    book = ContactBook(tmp_path / "contacts.db")
    assert book.by_name("Bram") == contact
    assert book.by_sign_key(bram.sign_key) == contact
    assert book.by_fingerprint(bram.fingerprint.lower().replace(" ", "")) == contact
    assert normalise_fingerprint("ab cd\tef") == "ABCDEF"
    assert book.all() == [contact] and contact.identity == bram


def test_rebinding_needs_replace_and_clears_the_names_warnings(tmp_path: Path) -> None:
    book = ContactBook(tmp_path / "contacts.db")
    old, new = Identity.generate().public, Identity.generate().public
    book.add("Bram", old, 100)
    with pytest.raises(ContactError) as info:
        book.add("Bram", new, 110)
    assert info.value.problem is Problem.CONFLICT and "compare fingerprints" in str(info.value)
    with pytest.raises(ContactError, match="already belong to contact 'Bram'"):
        book.add("Other", old, 110)
    book.add("Carla", Identity.generate().public, 100)
    assert book.check_announce("Bram", new, 115) is not None
    assert book.check_announce("Carla", new, 115) is not None
    book.add("Bram", new, 120, replace=True)  # the user compared fingerprints: warning acted on
    assert book.by_name("Bram") is not None and book.by_name("Bram").sign_key == new.sign_key
    assert [w.name for w in book.warnings()] == ["Carla"]


def test_dismissing_deletes_only_that_names_warnings(tmp_path: Path) -> None:
    book = ContactBook(tmp_path / "contacts.db")
    bram, carla = Identity.generate().public, Identity.generate().public
    book.add("Bram", bram, 100)
    book.add("Carla", carla, 100)
    for t in (110, 111):
        book.check_announce("Bram", Identity.generate().public, t)
    book.check_announce("Carla", Identity.generate().public, 112)
    assert book.dismiss_warnings("Nobody") == 0
    assert book.dismiss_warnings("Bram") == 2
    book.close()
    book = ContactBook(tmp_path / "contacts.db")  # the dismissal is stored
    assert [w.name for w in book.warnings()] == ["Carla"]
    assert book.dismiss_warnings("Bram") == 0


def test_announces_that_contradict_the_book_are_flagged_once(tmp_path: Path) -> None:
    book = ContactBook(tmp_path / "contacts.db")
    bram = Identity.generate().public
    book.add("Bram", bram, 100)
    assert book.check_announce("Bram", bram, 110) is None
    assert book.check_announce("Someone", Identity.generate().public, 110) is None
    impostor = Identity.generate().public
    warning = book.check_announce("Bram", impostor, 120)
    assert warning is not None and warning.new_sign == impostor.sign_key
    assert book.check_announce("Bram", impostor, 130) is None  # already recorded
    swapped = type(bram)(bram.sign_key, Identity.generate().public.dh_key)
    assert book.check_announce("Whatever", swapped, 140) is not None
    assert len(book.warnings()) == 2


@pytest.mark.parametrize("name", ["", " ", "x" * 65, "a\nb"])
def test_names_must_be_printable_and_short(tmp_path: Path, name: str) -> None:
    book = ContactBook(tmp_path / "contacts.db")
    with pytest.raises(ContactError) as info:
        book.add(name, Identity.generate().public, 1)
    assert info.value.problem is Problem.INVALID
