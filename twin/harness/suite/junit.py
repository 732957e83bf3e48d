"""JUnit XML of a suite run: one test case per scenario × seed, one per gate, one per regression.

A failing test case carries the gate and the measured value in its message, e.g.
``detection_delay_s <= 60: measured never``; an episode stopped by an error (a crashing
plug-in) is an ``<error>`` with the plug-in's message. CI systems show these per pull request.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from twin.harness.suite.gates import format_value
from twin.harness.suite.runner import SuiteResult


def junit_xml(result: SuiteResult) -> ET.ElementTree:
    """The JUnit document of ``result``."""
    failures = sum(1 for c in result.cases if c.status == "ok" and c.failed_gates)
    failures += sum(1 for g in result.gates if not g.passed) + len(result.regressions)
    errors = sum(1 for c in result.cases if c.status != "ok")
    tests = len(result.cases) + len(result.gates) + len(result.regressions)
    root = ET.Element("testsuites", tests=str(tests), failures=str(failures), errors=str(errors),
                      time=f"{result.wall_s:.2f}")
    suite = ET.SubElement(root, "testsuite", name=result.suite, tests=str(tests), failures=str(failures),
                          errors=str(errors), time=f"{result.wall_s:.2f}")
    for case in result.cases:
        element = ET.SubElement(suite, "testcase", classname=f"{result.suite}.{case.label}", name=case.name,
                                time=f"{case.wall_s:.2f}")
        if case.status != "ok":
            error = ET.SubElement(element, "error", message=case.message.splitlines()[0] if case.message else "error",
                                  type="EpisodeError")
            error.text = case.message
        elif case.failed_gates:
            text = "; ".join(f"{f['gate']}: measured {format_value(f['value'])}" for f in case.failed_gates)
            failure = ET.SubElement(element, "failure", message=text, type="GateFailed")
            failure.text = text
        if case.run_dir:
            ET.SubElement(element, "system-out").text = f"run directory: {case.run_dir}"
    for gate in result.gates:
        element = ET.SubElement(suite, "testcase", classname=f"{result.suite}.gates", name=gate.gate)
        if not gate.passed:
            text = (f"{gate.gate}: measured {format_value(gate.value)} over {gate.episodes} episode(s)"
                    if gate.episodes else f"{gate.gate}: no episode produced {gate.gate.split()[0]}")
            ET.SubElement(element, "failure", message=text, type="GateFailed").text = text
    for regression in result.regressions:
        element = ET.SubElement(suite, "testcase", classname=f"{result.suite}.regressions",
                                name=f"regression: {regression.gate}")
        ET.SubElement(element, "failure", message=regression.message, type="Regression").text = regression.message
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(result: SuiteResult, path: Path) -> Path:
    """Write the JUnit XML of ``result`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_xml(result).write(path, encoding="utf-8", xml_declaration=True)
    return path
