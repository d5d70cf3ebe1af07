"""pid -> microdc-model service: systemd unit from the cgroup (v2, v1), else the supervised pidfile the
process descends from, read from a fake /proc tree."""

from __future__ import annotations

from microdc.agent.processes import ProcessMap, unit_from_cgroup


def mapped(tree):
    m = ProcessMap(str(tree.proc), str(tree.run_dir))
    m.refresh()
    return m


def test_cgroup_v2_unit_and_the_processes_below_it(proc_tree):
    proc_tree.unit(500, "microdc-model-chat")
    proc_tree.process(501, ppid=500, cgroup="0::/system.slice/microdc-model-chat.service/worker")
    proc_tree.unit(600, "sshd")
    m = mapped(proc_tree)
    assert m.service_of(500) == "microdc-model-chat"
    assert m.service_of(501) == "microdc-model-chat"
    assert m.service_of(600) is None, "a unit that is not a model server maps to nothing"


def test_cgroup_v1_uses_the_name_systemd_hierarchy():
    text = ("12:memory:/system.slice/microdc-model-embed.service\n"
            "4:cpu,cpuacct:/system.slice/microdc-model-embed.service\n"
            "1:name=systemd:/system.slice/microdc-model-embed.service\n")
    assert unit_from_cgroup(text) == "microdc-model-embed"
    assert unit_from_cgroup("12:memory:/system.slice/microdc-model-embed.service\n") is None
    assert unit_from_cgroup("0::/\n") is None
    assert unit_from_cgroup("0::/system.slice/microdc-model-.service\n") is None  # no deployment name
    # hybrid hierarchy: the v2 line wins over v1's
    assert unit_from_cgroup("1:name=systemd:/system.slice/microdc-model-a.service\n"
                            "0::/system.slice/microdc-model-b.service\n") == "microdc-model-b"


def test_a_supervised_server_maps_through_its_pidfile_and_ancestry(proc_tree):
    # microdc_supervise.py (700) runs the server (701), whose worker (702) and its child (703) use the GPU;
    # in a container every process sits in the root cgroup.
    proc_tree.process(700, ppid=1, cgroup="0::/")
    proc_tree.process(701, ppid=700, cgroup="0::/")
    proc_tree.process(702, ppid=701, cgroup="0::/")
    proc_tree.process(703, ppid=702, cgroup="0::/")
    proc_tree.pidfile("microdc-model-tiny", 700, 701)
    proc_tree.process(800, ppid=1, cgroup="0::/")  # the agent itself, with a pidfile that is no model server
    proc_tree.pidfile("microdc-agent", 800, 0)
    proc_tree.process(900, ppid=800, cgroup="0::/")
    m = mapped(proc_tree)
    assert [m.service_of(p) for p in (700, 701, 702, 703)] == ["microdc-model-tiny"] * 4
    assert m.service_of(900) is None
    assert m.service_of(800) is None


def test_pidfiles_are_reread_on_refresh(proc_tree):
    proc_tree.process(710, cgroup="0::/")
    m = mapped(proc_tree)
    assert m.service_of(710) is None
    proc_tree.pidfile("microdc-model-late", 709, 710)
    assert m.service_of(710) is None, "pidfiles are read at refresh, once per collection"
    m.refresh()
    assert m.service_of(710) == "microdc-model-late"
    (proc_tree.run_dir / "microdc-model-late.pid").unlink()
    m.refresh()
    assert m.service_of(710) is None


def test_gone_processes_garbage_and_cycles_map_to_nothing(proc_tree, tmp_path):
    proc_tree.process(720, ppid=721, cgroup="0::/")
    proc_tree.process(721, ppid=720, cgroup="0::/")  # a cycle no real kernel makes
    (proc_tree.run_dir / "microdc-model-bad.pid").write_text("not a pid\n")
    (proc_tree.run_dir / "microdc-model-BAD NAME.pid").write_text("720 0\n")
    m = mapped(proc_tree)
    assert m.service_of(720) is None
    assert m.service_of(99999) is None, "a process that exited maps to nothing"
    assert ProcessMap(str(tmp_path / "nowhere"), str(tmp_path / "nothing")).service_of(1) is None
