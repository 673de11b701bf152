"""Findings, their levels, the exit code, and the text and JSON renderings of a report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

ERROR, FINDING, NOTICE = "error", "finding", "notice"
SECTIONS = {
    "audit": "Could not audit",
    "handlers": "Custom handlers no endpoint uses",
    "endpoints": "Endpoints that cannot be served",
    "inactive": "Endpoints switched off in the database",
    "drift": "Seed YAML and database disagree",
    "dead-code": "Unused Python code (vulture)",
    "old-files": "Files listed in OLD_FILES_TO_REMOVE.md",
}


@dataclass(frozen=True)
class Finding:
    """One thing the audit reports.

    `removal` marks a candidate for the generated section of OLD_FILES_TO_REMOVE.md, where
    `reason` and `evidence` are written out.
    """

    section: str
    level: str
    subject: str
    reason: str
    evidence: str = ""
    removal: bool = False


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    strict: bool = False

    def add(self, *findings: Finding) -> None:
        self.findings.extend(findings)

    def counts(self) -> dict[str, int]:
        return {level: sum(f.level == level for f in self.findings)
                for level in (ERROR, FINDING, NOTICE)}

    def exit_code(self) -> int:
        """2 when something is broken, 1 for findings (and notices when strict), else 0."""
        counts = self.counts()
        if counts[ERROR]:
            return 2
        return 1 if counts[FINDING] or (self.strict and counts[NOTICE]) else 0

    def text(self) -> str:
        lines = []
        for section, title in SECTIONS.items():
            found = [f for f in self.findings if f.section == section]
            if not found:
                continue
            lines.append(f"{title} ({len(found)})")
            for item in found:
                lines.append(f"  {item.level:7} {item.subject}: {item.reason}")
                if item.evidence:
                    lines.append(f"          {item.evidence}")
            lines.append("")
        counts = self.counts()
        lines.append(f"audit: {counts[ERROR]} error(s), {counts[FINDING]} finding(s), "
                     f"{counts[NOTICE]} notice(s){' (strict)' if self.strict else ''}"
                     f" -> exit {self.exit_code()}")
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps({"exit_code": self.exit_code(), "strict": self.strict,
                           "counts": self.counts(),
                           "findings": [asdict(f) for f in self.findings]}, indent=2)
