"""Alerts carry the plugin's URLs, not lake paths, once public_base_url is set."""

from __future__ import annotations

import json
from datetime import date

from forecasting.alerts.alert import contract_alert
from forecasting.alerts.send import send_alert
from forecasting.core.config import load_settings
from forecasting.core.lake import Lake


def test_sent_alert_links_point_at_the_plugin(tmp_path):
    outbox = tmp_path / "outbox.jsonl"
    s = load_settings(None, lake_uri=str(tmp_path / "lake"), landing_uri=str(tmp_path / "l"),
                      public_base_url="https://af.example.com", alerts={"outbox_path": str(outbox)})
    lake = Lake.from_settings(s)
    alert = contract_alert("events", date(2024, 6, 2), "broken", links={"data docs": lake.data_docs_index})
    send_alert(s, alert)
    sent = json.loads(outbox.read_text().splitlines()[-1])
    assert sent["links"] == {"data docs": "https://af.example.com/riskcast/data-docs/index.html"}
