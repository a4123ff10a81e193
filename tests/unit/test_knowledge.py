"""Free-text questions: the right answer, or an honest "no match" (never a wrong confident one)."""

from __future__ import annotations

import pytest

from assistant.domain.knowledge import TOPICS, match_question

QUESTIONS = [
    ("为什么查不到发票", "not_found"), ("我的发票查无此票，是什么原因？", "not_found"),
    ("why can't I find my invoice?", "not_found"),
    ("系统维护怎么办", "maintenance"), ("系统在维护，什么时候能好？", "maintenance"),
    ("what should I do during the maintenance", "maintenance"),
    ("发票作废了怎么办", "voided"), ("My invoice was voided, what now?", "voided"),
    ("红冲是什么意思", "red_reversed"), ("what does red-reversed mean", "red_reversed"),
    ("不一致是什么意思", "mismatch"), ("查验结果显示不一致怎么办？", "mismatch"),
    ("what does inconsistent mean", "mismatch"),
    ("新开的发票多久能查到", "sync_delay"), ("今天开的发票什么时候能查", "sync_delay"),
    ("how long until a new invoice shows up", "sync_delay"),
    ("一天能查几次？", "check_limit"), ("it says too many checks, what do I do", "check_limit"),
    ("失控发票怎么办", "out_of_control"),
    ("外地开的发票能查吗", "other_region"), ("can I check an invoice from another province?", "other_region"),
    ("校验码在哪里", "fields"), ("what information do I need to check an invoice", "fields"),
    ("金额填含税还是不含税？", "amount"), ("which amount do you need, including tax?", "amount"),
    ("开票方没上传发票怎么办", "not_uploaded"),
    ("五年前的发票还能查吗", "too_old"),
    # the ways merchants actually ask
    ("多久能同步", "sync_delay"), ("查验平台显示查无此票", "not_found"),
    ("对方说已经开了票但我这边查不到", "not_found"), ("上海的发票能查吗", "other_region"),
    ("数电票怎么查", "digital"), ("怎么联系人工", "human"), ("发票显示异常怎么办", "out_of_control"),
    ("发票号码和代码在哪", "fields"), ("how do I reach a person", "human"),
    ("how to check a digital invoice", "digital"), ("where is the invoice number", "fields"),
]

NOT_ANSWERED = [
    "发票怎么开", "你们公司在哪里", "今天天气怎么样", "我想报销", "你好", "谢谢", "怎么注册账号",
    "how do I issue an invoice", "what's the weather today", "hello", "thanks", "who are you",
    "我要投诉", "查一下我的余额", "维他命", "how long is the river", "作业写完了吗", "",
]


@pytest.mark.parametrize(("question", "topic"), QUESTIONS)
def test_questions_get_their_answer(question: str, topic: str) -> None:
    assert match_question(question) == topic


@pytest.mark.parametrize("question", NOT_ANSWERED)
def test_near_misses_get_no_answer(question: str) -> None:
    assert match_question(question) is None


def test_every_topic_answers_its_own_examples() -> None:
    for topic in TOPICS:
        for example in topic.examples:
            assert match_question(example) == topic.key, example


def test_every_topic_has_an_answer_in_both_languages() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "replies"
    for topic in TOPICS:
        for language in ("zh", "en"):
            assert (root / language / f"kb_{topic.key}.j2").exists(), (language, topic.key)
