from provisioning.models import Engine
from provisioning.principal_names import principal_name, shorten
from provisioning.resource_ids import AppRef


def test_site_and_slot_names_cannot_collide() -> None:
    site = principal_name(AppRef("s", "r", "a-b"), Engine.POSTGRES)
    slot = principal_name(AppRef("s", "r", "a", "b"), Engine.POSTGRES)
    assert site == "a-b" and slot == "a.b" and site != slot


def test_long_names_are_shortened_within_limits_deterministically_and_distinctly() -> None:
    base = "é" * 40  # 80 bytes in UTF-8
    first, second = shorten(base + "1", Engine.POSTGRES), shorten(base + "2", Engine.POSTGRES)
    assert len(first.encode()) <= 63 and len(second.encode()) <= 63
    assert first != second
    assert first == shorten(base + "1", Engine.POSTGRES)
    mysql = shorten("x" * 40, Engine.MYSQL)
    assert len(mysql) == 32 and mysql.startswith("x" * 23 + "~")


def test_short_names_are_kept_as_they_are() -> None:
    assert shorten("shop-web", Engine.MYSQL) == "shop-web"
