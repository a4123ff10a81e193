"""`/users` in chat: an admin lists, opens (by id or a forwarded message), sets roles, links and unlinks
companies and removes users; every change is audited, anyone else is refused."""

from __future__ import annotations

import pytest

from assistant.messages import ButtonPress, Command, Text
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat, joined, replies_of
from tests.factories import MINE, add_user

ADMIN = 900
TAX_ID = "91110108MA01ABCD1X"


@pytest.fixture
async def people(sessions, clock) -> None:
    await add_user(sessions, clock.now)  # merchant 1000, linked to MINE
    await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=())


async def stored(sessions, user_id: int) -> tuple[str, set[str]] | None:
    async with sessions() as session:
        store = UnitOfWork(session)
        user = await store.users.get(user_id)
        return (user.role, await store.users.companies_of(user_id)) if user else None


async def audited(sessions) -> list[tuple[int | None, str, bool, dict]]:
    async with sessions() as session:
        return [(e.actor_id, e.action, e.allowed, e.detail)
                for e in reversed(await UnitOfWork(session).audit.entries(100))]


async def test_an_admin_adds_links_unlinks_and_removes_a_user(assistant, sessions, people) -> None:
    admin = Chat(assistant, ADMIN, ADMIN)
    text = await admin.command("users")
    assert "<code>1000</code> 商户" in text and f"<code>{ADMIN}</code> 管理员" in text and MINE in text
    # by id: not known yet, a role button adds them
    text = await admin.command("users", "1001")
    assert "还没有使用过机器人" in text and admin.buttons == ["users.1001.merchant", "users.1001.staff",
                                                              "users.1001.admin"]
    assert "已保存" in await admin.press("users.1001.staff")
    assert await stored(sessions, 1001) == ("staff", set())
    # a company linked, a wrong tax id refused, then unlinked
    assert "已关联企业" in await admin.command("users", f"link 1001 {TAX_ID.lower()}")
    assert await stored(sessions, 1001) == ("staff", {TAX_ID})
    assert "不是纳税人识别号" in await admin.command("users", "link 1001 12-34")
    assert "没有关联这个企业" in await admin.command("users", "unlink 1001 91110108MA01ABCD2Y")
    assert "已取消关联" in await admin.command("users", f"unlink 1001 {TAX_ID}")
    assert await stored(sessions, 1001) == ("staff", set())
    # removal asks first, with one button
    text = await admin.command("users", "remove 1001")
    assert "确定删除此用户吗" in text and admin.buttons == ["users.1001.remove"]
    assert await stored(sessions, 1001) == ("staff", set())
    assert "已删除" in await admin.press("users.1001.remove")
    assert await stored(sessions, 1001) is None
    assert "没看懂" in await admin.command("users", "frobnicate 7")
    actions = [(action, detail) for actor, action, allowed, detail in await audited(sessions)
               if actor == ADMIN and action != "users"]
    assert actions == [("user_saved", {"user": 1001, "role": "staff"}),
                       ("user_linked", {"user": 1001, "company": TAX_ID, "changed": 1}),
                       ("user_unlinked", {"user": 1001, "company": "91110108MA01ABCD2Y", "changed": 0}),
                       ("user_unlinked", {"user": 1001, "company": TAX_ID, "changed": 1}),
                       ("user_removed", {"user": 1001, "removed": True})]
    assert sum(1 for actor, action, allowed, _ in await audited(sessions) if action == "users" and allowed) == 8


async def test_a_forwarded_message_opens_its_senders_card_in_english(assistant, sessions, clock, people) -> None:
    await add_user(sessions, clock.now, user_id=901, role="admin", companies=(), language="en")
    admin = Chat(assistant, 901, 901, language="en")
    text = joined(replies_of(await admin.send(Text, text="我的发票查不到", forwarded_from=1000)))
    assert "User <code>1000</code>: merchant" in text and MINE in text
    assert "Saved." in await admin.press("users.1000.staff")
    assert await stored(sessions, 1000) == ("staff", {MINE})
    text = joined(replies_of(await admin.send(Text, text="hello", forwarded_from=0)))
    assert "hides their account" in text and "/id" in text
    # an admin cannot demote or remove themselves
    assert "cannot change or remove your own" in joined(replies_of(
        await admin.send(ButtonPress, choice="users.901.merchant", version=0)))
    assert await stored(sessions, 901) == ("admin", set())


async def test_merchants_are_refused_and_their_forwards_are_just_messages(chat: Chat, assistant, sessions,
                                                                          people) -> None:
    assert "只有管理员可以使用" in await chat.command("users", str(ADMIN))
    text = joined(replies_of(await chat.send(ButtonPress, choice="users.1000.admin", version=0)))
    assert "只有管理员可以使用" in text
    assert await stored(sessions, 1000) == ("merchant", {MINE})
    assert (1000, "users", False) in [(a, b, c) for a, b, c, _ in await audited(sessions)]
    text = joined(replies_of(await chat.send(Text, text="你好", forwarded_from=ADMIN)))
    assert "<code>900</code>" not in text and "管理员" not in text


async def test_an_admin_erases_a_merchants_personal_data_after_seeing_what_goes(chat: Chat, assistant, sessions,
                                                                                  clock, people) -> None:
    """`/users forget ID` (PIPL) in chat: what is stored is listed with one button; pressed, it is erased,
    the lookups stay anonymous, and the audit records what was erased, not whose."""
    from assistant.store.models import Diagnosis
    from tests.stored import rows

    await chat.command("start")
    await chat.send(Text, text="发票号码 12345678 查不到")
    admin = Chat(assistant, ADMIN, ADMIN)
    text = await admin.command("users", "forget 1000")
    assert "确定清除用户 <code>1000</code> 的个人信息吗" in text and "账号 1" in text and "对话 1" in text
    assert admin.buttons == ["users.1000.forget"]
    assert await stored(sessions, 1000) == ("merchant", {MINE})  # nothing yet
    text = await admin.press("users.1000.forget")
    assert "用户 <code>1000</code> 的个人信息已清除" in text and "账号 1" in text
    assert await stored(sessions, 1000) is None
    async with sessions() as session:
        store = UnitOfWork(session)
        assert await store.privacy.export(1000) == {table: [] for table in await store.privacy.export(1000)}
        _, is_new = await store.conversations.get(1000, 1000, initial="idle", now=clock.now)
        assert is_new  # the conversation went with the rest
        assert all(d.user_id == 0 for d in await rows(session, Diagnosis))
    [(actor, action, allowed, detail)] = [e for e in await audited(sessions) if e[1] == "user_forgotten"]
    assert (actor, allowed, detail["via"]) == (ADMIN, True, "telegram") and "1000" not in str(detail)
    assert detail["tables"]["users"] == 1
    # again: nothing left, no button; an admin cannot erase themselves
    [reply] = replies_of(await admin.send(Command, name="users", args="forget 1000"))
    assert "没有存储用户 <code>1000</code> 的任何信息" in reply.text and reply.buttons == ()
    assert "不能" in joined(replies_of(await admin.send(ButtonPress, choice=f"users.{ADMIN}.forget", version=0)))
    assert await stored(sessions, ADMIN) == ("admin", set())
