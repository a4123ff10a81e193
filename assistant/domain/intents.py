"""What a merchant's free text can mean: the intents the understanding step tells apart.

Each intent's training examples live in `assistant/understanding/data/train_<lang>.toml`; the held-out examples that judge the
classifier live in `tests/data/nlu_heldout.toml` and are never used for training.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Intent:
    name: str
    meaning: str
    action: bool = False
    """True when the intent makes the bot act (open a ticket, start a lookup): fired only above the threshold."""


INTENTS: tuple[Intent, ...] = (
    Intent("greeting", "hello / are you there / 在吗 / 有人吗 / a lone question mark; no question asked yet"),
    Intent("thanks", "thanks, goodbye, that solved it"),
    Intent("ok", "acknowledgement: 好的 / 嗯 / 知道了 / got it / ok"),
    Intent("human", "wants a human agent now: 转人工, 让你们人来, 找客服, I want to talk to a person", action=True),
    Intent("start_check", "wants to check / look up an invoice now, without giving its fields yet", action=True),
    Intent("capabilities", "what can you do / how does this work / help / 怎么用"),
    Intent("not_found", "the invoice cannot be found / 查不到 / 查无此票 / not in the system, no more specific cause named"),
    Intent("sync_delay", "an invoice issued recently (today, yesterday, just now) is not there yet; how long until it syncs"),
    Intent("maintenance", "is the system down / under maintenance / can I check now / when will it be fixed"),
    Intent("input_mistake", "did I type something wrong; 0 vs O, 1 vs I; wrong date format; which digits to type"),
    Intent("mismatch", "the check says the details are inconsistent / 不一致 / do not match"),
    Intent("voided", "the invoice shows as voided / 作废 / cancelled; what now"),
    Intent("red_reversed", "the invoice was red-reversed / 红冲 / 红字; can it still be deducted"),
    Intent("out_of_control", "失控发票 / 异常凭证 / abnormal or out-of-control invoice"),
    Intent("other_region", "the invoice was issued in another province or city (外地, 上海, 广东, Shenzhen...)"),
    Intent("not_uploaded", "the issuer has not uploaded it / issued offline / is it a fake invoice"),
    Intent("digital", "数电票 / 全电发票: what it is, how to check it, how it differs from the old invoices"),
    Intent("deduction", "勾选 / 抵扣 / 认证 / input-tax deduction of an invoice"),
    Intent("reissue", "can the invoice be reissued / 重开 / 补开 / 换开; who can do it"),
    Intent("check_limit", "how many checks a day / too many checks / locked for today"),
    Intent("fields", "which details are needed / where is the code, number or check code on the invoice"),
    Intent("amount", "which amount to type: including or excluding tax / 价税合计 vs 金额"),
    Intent("too_old", "an old invoice, years ago; past the verification window"),
    Intent("complaint", "anger or frustration with the service or the bot, without a concrete question"),
    Intent("out_of_scope", "not about invoice lookups: 个人所得税, 社保, 公积金, the weather, jokes, other services"),
    Intent("what_now", "a follow-up asking what to do next: 那怎么办 / 然后呢 / so what do I do"),
    Intent("how_long", "a follow-up asking how long / until when: 要多久 / 多久能好 / 什么时候 (nothing else named)"),
    Intent("why", "a follow-up asking why / for what reason: 为什么 / 为啥 / 怎么会这样 (nothing else named)"),
)

NAMES: tuple[str, ...] = tuple(intent.name for intent in INTENTS)
ACTIONS: frozenset[str] = frozenset(intent.name for intent in INTENTS if intent.action)


@dataclass(frozen=True)
class Understood:
    """What the understanding step made of a message: the intent when it is clear, else the likeliest ones."""

    intent: str | None
    confidence: float = 0.0
    likely: tuple[str, ...] = ()


_YES = frozenset({"是", "是的", "是啊", "是滴", "对", "对的", "对啊", "对呀", "没错", "嗯", "嗯嗯", "好", "好的", "可以",
                  "确认", "就是", "就是这张", "是这张", "yes", "y", "yep", "yeah", "ok", "okay", "correct", "right",
                  "thats it", "that one"})
_NO = frozenset({"不是", "不对", "不", "否", "错了", "不是的", "不是这张", "都不是", "no", "n", "nope", "wrong",
                 "not that one", "neither"})
_FILLER = re.compile(r"[\s!！。.,，~～?？]+")


def yes_or_no(text: str) -> str | None:
    """"yes" or "no" when the whole message answers a yes/no question ("对", "不是这张", "nope"), else None.

    A closed class of words, read only where the bot has just asked yes or no."""
    said = _FILLER.sub(" ", text.lower()).strip().replace("'", "")
    if said in _YES:
        return "yes"
    if said in _NO:
        return "no"
    return None
