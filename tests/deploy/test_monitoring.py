"""Prometheus scrape config and the Grafana dashboard against the metrics the encoder really exports."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from medembed_encoder.metrics import EncoderMetrics

from .manifests import COMPOSE, DEPLOY, SETTINGS, encoder_services, load_compose, mounts, raw_k8s_documents

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "medembed.json"
SCRAPE_LABELS = {"service", "instance", "job", "le"}  # added by the scrape config or the histogram
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, as a scrape of an encoder shows them."""
    samples = {}
    for metric in vars(EncoderMetrics()).values():
        if isinstance(metric, MetricWrapperBase):
            for suffix in SUFFIXES[metric._type]:
                samples[metric._name + suffix] = set(metric._labelnames)
    return samples


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_prometheus_scrapes_every_encoder_on_the_metrics_port():
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["port"] == SETTINGS.metrics_port and discovery["type"] == "A"
    assert set(discovery["names"]) == set(encoder_services(load_compose(COMPOSE)))
    assert {"target_label": "service", "source_labels": ["__meta_dns_name"]} in job["relabel_configs"]
    prometheus = load_compose(COMPOSE)["services"]["prometheus"]
    assert mounts(prometheus)["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"


@pytest.mark.parametrize("expr", dashboard_queries())
def test_dashboard_queries_use_exported_metrics_and_labels(expr):
    samples = exported()
    names = set(re.findall(r"\bmedembed_[a-z0-9_]+\b", expr))
    assert names and names <= set(samples), f"not exported: {names - set(samples)}"
    grouped = {label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")}
    selected = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)\s*\"", expr))
    known = set().union(*(samples[name] for name in names)) | SCRAPE_LABELS
    assert grouped | selected <= known, f"unknown labels {(grouped | selected) - known}"


def test_dashboard_covers_what_operators_watch():
    text = " ".join(dashboard_queries())
    for needle in ("medembed_forward_items_total", "medembed_batch_size_sum", "medembed_queue_depth",
                   "histogram_quantile(0.99, sum by (le, method) (rate(medembed_request_duration_seconds_bucket",
                   "medembed_cache_hits_total", "medembed_cache_misses_total", 'code!="OK"',
                   "medembed_cache_circuit_open", "medembed_items_dropped_total"):
        assert needle in text, needle


def test_dashboard_uses_the_provisioned_datasource_and_is_mounted_where_provisioning_looks():
    provisioning = DEPLOY / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    uids = {target["datasource"]["uid"] for panel in json.loads(DASHBOARD.read_text())["panels"]
            for target in panel.get("targets", [])}
    assert uids == {datasource["uid"]}
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "medembed.yml").read_text())["providers"]
    grafana = mounts(load_compose(COMPOSE)["services"]["grafana"])
    assert grafana[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert grafana["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


def test_autoscalers_scale_on_an_exported_gauge():
    samples = exported()
    docs = raw_k8s_documents()
    (scaled,) = [d for d in docs if d["kind"] == "ScaledObject"]
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert set(re.findall(r"\bmedembed_[a-z0-9_]+\b", query)) == {"medembed_queue_depth"} <= set(samples)
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "medembed_queue_depth"
