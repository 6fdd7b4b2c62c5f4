"""Who may see which page of the riskcast Airflow plugin (settings ``ui.*``).

Pages fall into three groups, each readable by a list of role names. A user's roles are
what the Airflow auth manager knows of them: their Airflow role (SimpleAuthManager:
viewer, user, op, admin), their SimpleAuthManager teams (``user:role:team`` with
``[core] multi_team``) and their role names under another auth manager (FAB roles),
compared case-insensitively. The plugin also asks the auth manager itself
(``is_authorized_custom_view``), so an auth manager that grants custom views per role
(FAB) refuses on its own too.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

RESERVES, DATA_QUALITY, BACKTESTS = "reserves", "data_quality", "backtests"
GROUPS = (RESERVES, DATA_QUALITY, BACKTESTS)
RESOURCE_NAMES = {  # group -> the custom-view resource the auth manager is asked about
    RESERVES: "riskcast reserves",
    DATA_QUALITY: "riskcast data quality",
    BACKTESTS: "riskcast backtests",
}
TITLES = {
    RESERVES: "the reserves page and its downloads",
    DATA_QUALITY: "Data Docs, the audit report and the alert history",
    BACKTESTS: "backtest reports",
}


class PageRoles(BaseModel):
    """Role names that may see each page group (``RISKCAST_UI__RESERVES='["finance","admin"]'``)."""

    reserves: list[str] = Field(["finance", "admin"], description="the reserves page and its downloads")
    data_quality: list[str] = Field(
        ["security", "admin"], description="GX Data Docs, the audit report and the alert history"
    )
    backtests: list[str] = Field(["data_engineer", "admin"], description="backtest reports")

    def allowed(self, group: str, roles: set[str]) -> bool:
        """Whether a user holding ``roles`` may see ``group``."""
        wanted = {r.lower() for r in getattr(self, group)}
        return bool(wanted & {r.lower() for r in roles})
