"""The Prometheus text exposition of a model server."""

from __future__ import annotations

from cairn.model_server.metrics_text import RequestMetrics, render


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_counters_histogram_and_store_figures() -> None:
    requests = RequestMetrics()
    for seconds in (0.0004, 0.003, 0.003, 2.0):
        requests.observe("predict", 200, seconds)
    requests.observe("predict", 422, 0.001)
    requests.error("predict", "schema_mismatch")
    requests.predictions = 7
    monitor = {
        "counts": {"predictions": 10, "labelled": 4, "feedback": 5},
        "live": {"last_500": {"metrics": {"accuracy": 0.75, "f1": 0.5}}},
        "drift": {"dataset_drift": False, "features": {
            'we"ird': {"feature": 'we"ird', "psi": 0.31, "ks_statistic": 0.2,
                       "ks_pvalue": 0.001, "drifted": True},
            "plan": {"feature": "plan", "psi": 0.01, "chi2_pvalue": 0.9, "drifted": False}}},
    }
    text = render(model="churn", version=3, flavor="sklearn", requests=requests,
                  log_stats={"written": 9, "dropped": 2, "pending": 1}, monitor=monitor,
                  batches=4)
    got = samples(text)
    assert got['cairn_requests_total{endpoint="predict",status="200"}'] == 4
    assert got['cairn_request_errors_total{endpoint="predict",code="schema_mismatch"}'] == 1
    assert got['cairn_request_duration_seconds_bucket{endpoint="predict",le="0.0005"}'] == 1
    assert got['cairn_request_duration_seconds_bucket{endpoint="predict",le="0.005"}'] == 4
    assert got['cairn_request_duration_seconds_bucket{endpoint="predict",le="+Inf"}'] == 5
    assert got['cairn_request_duration_seconds_count{endpoint="predict"}'] == 5
    assert got["cairn_predictions_total"] == 7
    assert got["cairn_prediction_log_dropped_total"] == 2
    assert got["cairn_feedback_total"] == 5
    assert got['cairn_live_metric{window="last_500",metric="accuracy"}'] == 0.75
    assert got['cairn_drift_psi{feature="we\\"ird"}'] == 0.31
    assert got['cairn_drift_feature_drifted{feature="plan"}'] == 0
    assert got["cairn_drift_dataset"] == 0
    assert got["cairn_model_batches_total"] == 4
    assert "# TYPE cairn_request_duration_seconds histogram" in text
    assert text.endswith("\n")


def test_without_the_store_the_worker_counters_remain() -> None:
    text = render(model="m", version=1, flavor=None, requests=RequestMetrics(),
                  log_stats={}, monitor=None)
    assert "cairn_requests_total" in text and "cairn_live_metric" not in text
