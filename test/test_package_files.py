"""package_files: one lookup of the package's files: the ament index, the checkout, an install prefix, sys.prefix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robot_vision_nav import package_files
from robot_vision_nav.package_files import PackageFileError, package_file

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "robot_vision_nav"


def _ament_prefix(root: Path) -> Path:
    """An install prefix the ament index registers the package in, with its own config/ (a marker file)."""
    (root / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (root / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).write_text("")
    (root / "share" / PACKAGE / "config" / "labels").mkdir(parents=True)
    (root / "share" / PACKAGE / "config" / "robot_vision_nav.yaml").write_text("# installed copy\n")
    return root


def test_checkout_files_are_found_without_an_ament_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert package_file("config", "robot_vision_nav.yaml") == REPO / "config" / "robot_vision_nav.yaml"
    assert package_file("models", "segnet_warehouse.safetensors").is_file()
    assert REPO / "config" / "labels" in package_files.label_dirs()


def test_the_ament_index_share_directory_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = _ament_prefix(tmp_path / "install")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert package_files.share_dirs()[0] == prefix / "share" / PACKAGE
    assert package_file("config", "robot_vision_nav.yaml").read_text() == "# installed copy\n"
    # A file the install lacks is still found further down the list (here: the checkout).
    assert package_file("config", "sim.yaml") == REPO / "config" / "sim.yaml"


def test_a_missing_file_names_every_place_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = _ament_prefix(tmp_path / "install")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    with pytest.raises(PackageFileError) as info:
        package_file("config", "absent.yaml")
    text = str(info.value)
    assert "config/absent.yaml of robot_vision_nav is in none of" in text
    for folder in package_files.share_dirs():
        assert str(folder / "config" / "absent.yaml") in text
    assert str(prefix / "share" / PACKAGE / "config" / "absent.yaml") in text


def test_label_sets_come_from_the_ament_share_before_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = _ament_prefix(tmp_path / "install")
    site = (REPO / "config" / "labels" / "warehouse.yaml").read_text().replace("name: warehouse", "name: site")
    (prefix / "share" / PACKAGE / "config" / "labels" / "site.yaml").write_text(site)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(prefix))
    assert package_files.load_label_set("site").name == "site"
    assert package_files.available_label_sets() == ["camvid", "cityscapes", "site", "warehouse"]


def _install_copy(tmp_path: Path) -> tuple[Path, Path]:
    """The package's modules under <prefix>/lib/pythonX.Y/site-packages and its files under <prefix>/share."""
    import shutil

    prefix = tmp_path / "prefix"
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    shutil.copytree(REPO / PACKAGE, site / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "config", prefix / "share" / PACKAGE / "config")
    return prefix, site


def _run_elsewhere(code: str, site: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The copy first on sys.path: the venv's editable install (a meta-path finder after the path
    # finder) is not reached, and the checkout is not the cwd. The test checks which copy ran.
    check = f"import robot_vision_nav as p; assert p.__file__.startswith({str(site)!r}), p.__file__"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {check}; {code}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_install_prefix_off_the_ament_path_finds_its_own_share(tmp_path: Path) -> None:
    prefix, site = _install_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "PYTHONPATH")}
    code = "from robot_vision_nav.package_files import package_file; print(package_file('config', 'sim.yaml'))"
    result = _run_elsewhere(code, site, tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(prefix / "share" / PACKAGE / "config" / "sim.yaml")


def test_an_install_without_its_files_fails_naming_every_place(tmp_path: Path) -> None:
    prefix, site = _install_copy(tmp_path)
    import shutil

    shutil.rmtree(prefix / "share")
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "PYTHONPATH")}
    code = "from robot_vision_nav.package_files import load_label_set; load_label_set('warehouse')"
    result = _run_elsewhere(code, site, tmp_path, env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "LabelError: no label set 'warehouse'; available: none (looked in " in last, result.stderr
    assert str(prefix / "share" / PACKAGE / "config" / "labels") in last
