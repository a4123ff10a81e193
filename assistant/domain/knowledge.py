"""Free-text questions matched to answers (templates `replies/*/kb_<topic>.j2`), or honestly not.

A topic answers only when the question names its concept (a required keyword), resembles one of its
example questions closely enough, and beats every other topic by a margin. Chinese is segmented with
jieba, English split into words; RapidFuzz compares the token sets.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

logger = logging.getLogger(__name__)

THRESHOLD = 62.0
MARGIN = 6.0
GENERIC = "not_found"


@dataclass(frozen=True)
class Topic:
    key: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("not_found", ("查不到", "查无此票", "找不到", "查不出", "not found", "can't find", "cannot find",
                        "can't i find", "find my invoice", "missing", "not in the system"),
          ("为什么查不到发票", "查无此票是什么原因", "发票查不到怎么办", "系统里找不到我的发票",
           "查验平台显示查无此票", "对方说已经开了票但我这边查不到", "开票方说开了我这里查不到",
           "why can't i find my invoice", "why is my invoice not found", "my invoice is not in the system")),
    Topic("maintenance", ("维护", "停机", "升级", "maintenance", "outage", "down"),
          ("系统维护怎么办", "系统在维护什么时候能好", "维护期间开的发票怎么办",
           "what should i do during maintenance", "the system is down for maintenance", "when does maintenance end")),
    Topic("voided", ("作废", "voided", "void"),
          ("发票作废了怎么办", "作废的发票还能用吗", "为什么发票显示作废",
           "my invoice was voided what now", "can i use a voided invoice")),
    Topic("red_reversed", ("红冲", "红字", "red-reversed", "red reversed", "red invoice"),
          ("发票被红冲了怎么办", "红冲是什么意思", "红字发票是什么",
           "what does red-reversed mean", "my invoice was red reversed")),
    Topic("mismatch", ("不一致", "不符", "mismatch", "inconsistent", "does not match", "doesn't match", "do not match",
                       "don't match"),
          ("不一致是什么意思", "查验结果不一致怎么办", "为什么显示信息不一致",
           "what does inconsistent mean", "the result says the details do not match")),
    Topic("sync_delay", ("多久", "多长时间", "什么时候能查", "当天开", "今天开的", "刚开的", "同步", "how long until",
                         "how soon", "new invoice", "issued today", "shows up", "sync"),
          ("新开的发票多久能查到", "今天开的发票什么时候能查", "刚开的发票为什么查不到要等多久", "多久能同步",
           "发票多久同步",
           "how long until a new invoice shows up", "when can i check an invoice issued today",
           "how long does the sync take")),
    Topic("check_limit", ("次数", "几次", "太频繁", "锁定", "how many times", "too many", "limit", "locked"),
          ("一天能查几次", "超过查验次数怎么办", "提示查验太频繁怎么办",
           "how many times can i check an invoice", "it says too many checks", "my invoice is locked for today")),
    Topic("out_of_control", ("失控", "异常", "out of control", "abnormal"),
          ("失控发票怎么办", "发票显示失控能抵扣吗", "异常凭证是什么意思", "发票显示异常怎么办",
           "what does out of control mean", "my invoice is abnormal")),
    Topic("other_region", ("外地", "外省", "其他省", "别的省", "上海", "other province", "another province",
                           "other region", "outside beijing", "another city", "shanghai"),
          ("外地开的发票能查吗", "上海开的发票为什么在北京查不到", "其他省的发票怎么查", "上海的发票能查吗",
           "can i check an invoice from another province", "why can't beijing find an invoice from shanghai")),
    Topic("fields", ("校验码", "发票代码", "号码和代码", "号码在哪", "代码在哪", "需要什么", "哪些信息", "什么信息",
                     "提供什么", "填什么", "check code", "invoice code", "invoice number", "what do i need",
                     "which details", "what information"),
          ("查发票需要提供什么信息", "校验码在哪里", "发票代码在哪", "需要填哪些信息", "发票号码和代码在哪",
           "发票号码在哪里看", "where is the invoice number",
           "what information do i need to check an invoice", "where is the check code", "which details do you need")),
    Topic("amount", ("含税", "不含税", "价税合计", "哪个金额", "including tax", "excluding tax", "which amount",
                     "tax included"),
          ("金额填含税还是不含税", "应该填价税合计还是金额", "填哪个金额",
           "should i enter the amount including tax", "which amount do you need", "amount excluding or including tax")),
    Topic("not_uploaded", ("没上传", "未上传", "离线", "假发票", "假的", "not uploaded", "not upload",
                           "didn't upload", "offline", "fake"),
          ("开票方没上传发票怎么办", "离线开的发票什么时候能查", "是不是假发票",
           "the issuer did not upload the invoice", "is my invoice fake", "offline invoices are not found")),
    Topic("digital", ("数电", "全电", "digital invoice", "fully digital", "e-invoice"),
          ("数电票怎么查", "全电发票怎么查验", "数电发票需要什么信息",
           "how to check a digital invoice", "how do i check a fully digital e-invoice")),
    Topic("human", ("人工", "真人", "客服", "a person", "human", "an agent", "real person"),
          ("怎么联系人工", "我要人工客服", "能转人工吗", "怎么找客服",
           "how do i reach a person", "can i talk to a human", "i want a real person")),
    Topic("too_old", ("年前", "五年", "5年", "太久", "很久以前", "以前的发票", "过期", "years ago", "too old",
                      "old invoice", "expired"),
          ("五年前的发票还能查吗", "很久以前的发票查不到", "发票太久了还能查验吗",
           "can i check an invoice from years ago", "is my old invoice too old to check")),
)

_PUNCTUATION = re.compile(r"[\s\u3000,.!?;:，。！？；：、“”\"'()（）\[\]【】]+")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


def prepare() -> None:
    """Load the Chinese dictionary now and quietly, not on the first question (about a second, and log lines)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()


def _tokens(text: str) -> str:
    """Space-separated tokens: jieba words for Chinese, words for English."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    words = [w for w in jieba.lcut(_PUNCTUATION.sub(" ", _normalise(text))) if w.strip()]
    return " ".join(words)


@lru_cache(maxsize=1)
def _prepared() -> list[tuple[Topic, list[str]]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [(topic, [_tokens(example) for example in topic.examples]) for topic in TOPICS]


SMALL_TALK: dict[str, frozenset[str]] = {
    "greeting": frozenset({"你好", "您好", "你好呀", "在吗", "在不在", "有人吗", "哈喽", "hi", "hello", "hey",
                           "anyone there", "are you there"}),
    "thanks": frozenset({"谢谢", "谢谢你", "谢谢您", "多谢", "感谢", "好的谢谢", "好的，谢谢", "thanks", "thank you",
                         "thx", "ok thanks", "ok, thanks"}),
    "ok": frozenset({"好的", "好", "嗯", "嗯嗯", "知道了", "明白了", "收到", "行", "ok", "okay", "got it", "i see"}),
}


def small_talk(text: str) -> str | None:
    """"greeting", "thanks" or "ok" when the whole message is one of those (not a question)."""
    normal = re.sub(r"[\s!！。.~～?？,，]+$", "", _normalise(text)).strip()
    return next((kind for kind, phrases in SMALL_TALK.items() if normal in phrases), None)


def match_question(text: str) -> str | None:
    """The topic key a question asks about, or None when no topic fits clearly."""
    from rapidfuzz import fuzz

    normal = _normalise(text)
    if len(normal) < 2 or len(normal) > 200:
        return None
    query = _tokens(normal)
    scores: list[tuple[float, str]] = []
    for topic, examples in _prepared():
        if not any(keyword in normal for keyword in topic.keywords):
            continue
        best = max(fuzz.token_set_ratio(query, example) for example in examples)
        scores.append((best, topic.key))
    if len(scores) > 1:
        # "not found" is what every question is about in the end; a more specific topic that fits wins.
        specific = [entry for entry in scores if entry[1] != GENERIC and entry[0] >= THRESHOLD]
        if specific:
            scores = specific
    if not scores:
        return None
    scores.sort(reverse=True)
    best_score, best_key = scores[0]
    runner_up = scores[1][0] if len(scores) > 1 else 0.0
    if best_score < THRESHOLD or best_score - runner_up < MARGIN:
        logger.debug("question %r not answered (scores %s)", text[:60], scores[:3])
        return None
    return best_key
