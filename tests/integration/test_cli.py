"""The command line, run as a user would, against a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bot

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite file, and the command line in English (its Chinese is checked by the `chinese` tests)."""
    path = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    return path


@pytest.fixture
def chinese(database: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line as it is by default: DEFAULT_LANGUAGE not set."""
    monkeypatch.delenv("DEFAULT_LANGUAGE")
    return database


def invoke(*args: str) -> str:
    result = runner.invoke(bot.app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_db_upgrade_creates_the_schema(database: Path) -> None:
    assert "up to date" in invoke("db", "upgrade")
    assert database.exists()


def test_users_add_and_list(database: Path) -> None:
    invoke("users", "add", "42", "--role", "admin", "--company", "91110000600037341L", "--lang", "en")
    invoke("users", "add", "43", "--company", "91110000600037341L", "--company", "110105123456789")
    out = runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    assert "42" in out and "admin" in out and "91110000600037341L" in out
    assert "43" in out and "merchant" in out and "110105123456789, 91110000600037341L" in out


def test_users_add_takes_tax_ids_not_names(database: Path) -> None:
    result = runner.invoke(bot.app, ["users", "add", "44", "--company", "北京星河商贸有限公司"])
    assert result.exit_code == 2 and "not a taxpayer id" in result.output and "not its name" in result.output
    assert runner.invoke(bot.app, ["users", "add", "44", "--company", "12345"]).exit_code == 2
    result = runner.invoke(bot.app, ["users", "add", "44", "--company", "91110000600037341X"])
    assert result.exit_code == 0 and "check character does not match" in result.output  # warned, kept


def test_users_add_rejects_unknown_roles(database: Path) -> None:
    result = runner.invoke(bot.app, ["users", "add", "42", "--role", "boss"])
    assert result.exit_code == 2 and "role must be one of" in result.output


def test_maintenance_start_list_end(database: Path) -> None:
    out = invoke("maintenance", "start", "--until", "+2h", "--message-zh", "系统升级", "--message-en", "Upgrade")
    assert "maintenance window 1" in out
    assert "running" in invoke("maintenance", "list")
    assert "1 maintenance window(s) ended" in invoke("maintenance", "end")
    assert "ended" in invoke("maintenance", "list")
    assert "no maintenance window is running" in invoke("maintenance", "end")


def test_maintenance_rejects_bad_times(database: Path) -> None:
    result = runner.invoke(bot.app, ["maintenance", "start", "--until", "soon", "--message-zh", "x"])
    assert result.exit_code == 2 and "cannot read the time" in result.output


def test_import_invoices_reports_rows(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text("code,number,issue_date,amount,seller_tax_id\n011002500111,12345678,2025-03-01,100,X1\n"
                    "011002500111,123,2025-03-01,100,X1\n", encoding="utf-8")
    out = invoke("import-invoices", str(path))
    assert "row 3: number '123' must have 8 or 20 digits" in out
    assert "2 rows: 1 new, 0 updated, 0 unchanged, 1 rejected" in out
    assert "1 unchanged" in invoke("import-invoices", str(path))


def test_configuration_errors_are_one_line(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_DELAY_HOURS", "soon")
    result = runner.invoke(bot.app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "configuration error: SYNC_DELAY_HOURS" in result.output
    assert "Traceback" not in result.output


def test_chat_in_the_terminal(database: Path) -> None:
    result = runner.invoke(bot.app, ["chat", "--user", "7"], input="1\n号码 12345678\n/cancel\nquit\n")
    assert result.exit_code == 0, result.output
    assert "请选择您需要的服务" in result.output
    assert "已收到：发票号码 12345678" in result.output


def test_flows_check(database: Path) -> None:
    assert "current" in invoke("flows", "--check")


def test_the_demo_chat_prints_no_library_chatter_and_can_start_over(tmp_path: Path) -> None:
    """As `make demo` runs it, in a process of its own: no jieba log lines in the chat; --fresh starts over."""
    import subprocess
    import sys

    root = Path(bot.__file__).resolve().parent
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(root)}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo.sqlite3").write_bytes(b"not a database: left by an earlier run")

    def chat(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(root / "bot.py"), "chat", "--demo", *flags], cwd=tmp_path,
                              input="新开的发票多久能查到\nquit\n", capture_output=True, text=True, timeout=120,
                              env=env)

    done = chat("--fresh")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "prefix dict" not in done.stdout + done.stderr and "Loading model" not in done.stdout + done.stderr
    assert "同步" in done.stdout  # the question was answered


def test_users_add_changes_only_what_is_given_unlink_and_remove(database: Path) -> None:
    invoke("users", "add", "111", "--role", "staff", "--company", "91110000600037341L")
    invoke("users", "add", "111", "--alias", "客服小王")  # no --role: still staff
    out = runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    row = next(line for line in out.splitlines() if "111" in line)
    assert "staff" in row and "客服小王" in row and "91110000600037341L" in row
    assert "1 company link(s) removed" in invoke("users", "unlink", "111", "--company", "91110000600037341L")
    result = runner.invoke(bot.app, ["users", "unlink", "111", "--company", "91110000600037341L"])
    assert result.exit_code == 2 and "has none of these companies" in result.output
    assert "user 111 removed" in invoke("users", "remove", "111")
    assert "111" not in runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    result = runner.invoke(bot.app, ["users", "remove", "111"])
    assert result.exit_code == 2 and "there is no user 111" in result.output


def test_users_export_and_forget(database: Path, tmp_path: Path) -> None:
    import json

    invoke("users", "add", "4242", "--company", "91110000600037341L")
    out = tmp_path / "4242.json"
    assert "wrote" in invoke("users", "export", "4242", "--out", str(out))
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["user_id"] == 4242 and exported["tables"]["users"][0]["id"] == 4242
    assert exported["tables"]["user_companies"] == [{"user_id": 4242, "tax_id": "91110000600037341L"}]
    dry = invoke("users", "forget", "4242")
    assert "would erase" in dry and "users 1" in dry and "--yes" in dry
    assert "4242" in runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output  # dry run: kept
    assert "user 4242 forgotten: " in invoke("users", "forget", "4242", "--yes")
    assert "4242" not in runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    again = json.loads(invoke("users", "export", "4242"))
    assert all(rows == [] for rows in again["tables"].values())


def test_messages_are_chinese_by_default(chinese: Path, tmp_path: Path) -> None:
    assert "数据库已是最新" in invoke("db", "upgrade")
    assert "用户 111 已保存，角色：staff" in invoke("users", "add", "111", "--role", "staff",
                                               "--company", "91110000600037341L")
    assert "用户 111 已保存，角色：staff" in invoke("users", "add", "111", "--alias", "客服小王")  # the role kept
    listed = runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    assert "角色" in listed and "企业" in listed and "role" not in listed
    assert "已取消 1 个企业关联" in invoke("users", "unlink", "111", "--company", "91110000600037341L")
    result = runner.invoke(bot.app, ["users", "unlink", "111", "--company", "91110000600037341L"])
    assert result.exit_code == 2 and "用户 111 没有这些企业" in result.output
    result = runner.invoke(bot.app, ["users", "add", "44", "--company", "北京星河商贸有限公司"])
    assert result.exit_code == 2 and "不是纳税人识别号" in result.output and "而不是企业名称" in result.output
    result = runner.invoke(bot.app, ["users", "add", "44", "--role", "boss"])
    assert result.exit_code == 2 and "角色必须是以下之一" in result.output
    assert "将为用户 111 清除" in invoke("users", "forget", "111")
    assert "用户 111 已删除" in invoke("users", "remove", "111")
    result = runner.invoke(bot.app, ["users", "remove", "111"])
    assert result.exit_code == 2 and "没有用户 111" in result.output


def test_maintenance_inbox_and_audit_are_chinese_by_default(chinese: Path) -> None:
    assert "维护时段 1：" in invoke("maintenance", "start", "--until", "+2h", "--message-zh", "系统升级")
    assert "进行中" in runner.invoke(bot.app, ["maintenance", "list"], env={"COLUMNS": "200"}).output
    assert "已结束 1 个维护时段" in invoke("maintenance", "end")
    assert "当前没有进行中的维护时段" in invoke("maintenance", "end")
    result = runner.invoke(bot.app, ["maintenance", "start", "--until", "soon", "--message-zh", "x"])
    assert result.exit_code == 2 and "无法识别时间 'soon'" in result.output
    assert "没有等待中的更新，也没有死信" in invoke("inbox", "list")
    result = runner.invoke(bot.app, ["inbox", "retry", "5"])
    assert result.exit_code == 2 and "更新 5 不是死信" in result.output
    audit = runner.invoke(bot.app, ["audit"], env={"COLUMNS": "200"}).output
    assert "操作人" in audit and "maintenance_created" in audit
    assert "docs/flows.md 是最新的" in invoke("flows", "--check")


def test_the_import_report_is_chinese_by_default(chinese: Path, tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text("发票代码,发票号码,开票日期,金额,销方识别号\n011002500111,12345678,2025-03-01,100,X1\n"
                    "011002500111,123,2025-03-01,100,X1\n", encoding="utf-8")
    out = invoke("import-invoices", str(path))
    assert "第 3 行：“发票号码”的值“123”应为 8 位或 20 位数字" in out  # the file's column name, in Chinese
    assert "共 2 行：新增 1，更新 0，未变 0，拒绝 1" in out


def test_help_is_chinese_by_default_and_english_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFAULT_LANGUAGE", raising=False)
    wide = {"COLUMNS": "200"}
    shown = runner.invoke(bot.app, ["--help"], env=wide)
    assert shown.exit_code == 0 and "发票查询助手" in shown.output and "命令" in shown.output
    assert "用户及其角色" in shown.output and "Users and their roles" not in shown.output
    shown = runner.invoke(bot.app, ["users", "add", "--help"], env=wide)
    assert "商户看到的客服昵称" in shown.output and "此人的 Telegram 用户 ID" in shown.output
    assert "显示本帮助后退出" in shown.output and "Show this message" not in shown.output
    english = runner.invoke(bot.app, ["users", "--help"], env={**wide, "DEFAULT_LANGUAGE": "en"})
    assert "Users and their roles" in english.output and "Erase a person's personal data" in english.output
    assert "用户及其角色" not in english.output


def test_a_configuration_error_still_shows_help_and_says_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_DELAY_HOURS", "soon")
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    shown = runner.invoke(bot.app, ["users", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "Users and their roles" in shown.output  # the language still taken
    result = runner.invoke(bot.app, ["users", "list"])
    assert result.exit_code == 2 and "configuration error: SYNC_DELAY_HOURS" in result.output


@pytest.mark.parametrize("language", ["zh", "en"])
def test_help_of_the_real_process_follows_default_language(tmp_path: Path, language: str) -> None:
    """`python bot.py --help` and `python bot.py users --help` as an admin runs them."""
    import subprocess
    import sys

    root = Path(bot.__file__).resolve().parent
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200",
           **({"DEFAULT_LANGUAGE": "en"} if language == "en" else {})}
    shown = {args: subprocess.run([sys.executable, str(root / "bot.py"), *args], cwd=tmp_path, capture_output=True,
                                  text=True, timeout=120, env=env) for args in (("--help",), ("users", "--help"))}
    for done in shown.values():
        assert done.returncode == 0, done.stderr[-2000:]
    top, users = shown[("--help",)].stdout, shown[("users", "--help")].stdout
    if language == "zh":
        assert "发票查询助手" in top and "运行 Telegram 机器人" in top and "选项" in top
        assert "清除某人的个人信息" in users and "Erase" not in users
    else:
        assert "Run the Telegram bot." in top and "Options" in top and "运行" not in top
        assert "Erase a person's personal data" in users and "清除" not in users


def test_what_users_and_files_wrote_is_shown_as_written_not_as_markup(database: Path, tmp_path: Path) -> None:
    invoke("users", "add", "112", "--alias", "[bold]小王[/bold]")
    assert "[bold]小王[/bold]" in runner.invoke(bot.app, ["users", "list"], env={"COLUMNS": "200"}).output
    path = tmp_path / "i.csv"
    path.write_text("code,number,issue_date,amount,seller_tax_id\n011002500111,[red]9[/red],2025-03-01,100,X1\n",
                    encoding="utf-8")
    assert "number '[red]9[/red]'" in invoke("import-invoices", str(path))


def test_an_env_file_that_is_not_utf8_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_bytes("SUPPORT_HOURS=九点\n".encode("gbk"))  # saved by an editor in GBK
    result = subprocess.run([sys.executable, "bot.py", "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "DATA_DIR": str(tmp_path)}, timeout=60)
    assert result.returncode == 2 and "is not UTF-8" in result.stderr and "Traceback" not in result.stderr


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)


@pytest.mark.parametrize(("name", "content", "said"), [
    ("发票.xlsx", PNG, "not a CSV or XLSX table (its content is PNG, whatever its name says)"),
    ("发票.csv", PNG, "its content is PNG"),
    ("old.xls", XLS, "this is an old Excel (.xls) file, which cannot be read. Save it as .xlsx or CSV"),
    ("renamed.csv", XLS, "old Excel (.xls)"),
])
def test_a_file_that_is_not_a_table_is_one_clear_line(database: Path, tmp_path: Path, name: str, content: bytes,
                                                        said: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(bot.app, ["import-invoices", str(path)])
    assert result.exit_code != 0 and said in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2


def test_the_wrong_kind_of_file_in_chinese(chinese: Path, tmp_path: Path) -> None:
    path = tmp_path / "发票.xlsx"
    path.write_bytes(PNG)
    result = runner.invoke(bot.app, ["import-invoices", str(path)])
    assert result.exit_code != 0 and "不是 CSV 或 XLSX 表格（文件内容是 PNG" in result.output, result.output


def test_an_unusable_table_is_its_reason_not_an_unexpected_error(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    result = runner.invoke(bot.app, ["import-invoices", str(path)])
    assert result.exit_code != 0 and f"{path}: " in result.output and "unexpected" not in result.output, \
        result.output
