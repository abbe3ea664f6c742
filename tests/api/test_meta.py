from service.analysis.taxonomy import FLAGS, LABELS


def test_taxonomy_lists_every_label_and_flag_with_severity(client):
    body = client.get("/v1/taxonomy").get_json()
    assert [lab["code"] for lab in body["labels"]] == list(LABELS)
    assert all(lab["description"] for lab in body["labels"])
    codes = {f["code"]: f for f in body["flags"]}
    assert set(codes) == set(FLAGS) | {"missing_disclaimer"}
    assert codes["unsupported_evidence"]["severity"] == "low"
    assert codes["missing_disclaimer"]["scope"] == "document"


def test_model_describes_the_active_model_from_its_card(client):
    body = client.get("/v1/model").get_json()
    assert body["version"] == "tiny.1" and body["name"] == "kratom-claims"
    assert set(LABELS) <= set(body["thresholds"])
    assert body["training_data"]["sha256"] and body["artifact_sha256"]
    assert "cv" in body["metrics"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready == {"status": "ready", "model_version": "tiny.1"}


def test_metrics_count_requests_sentences_flags_and_show_the_model(client):
    client.post("/v1/moderate", json={"text": "Kratom cures pain. It is 100% safe."})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="POST",route="/v1/moderate",status="200"} 1.0' in text
    assert "sentences_analysed_total 2.0" in text
    assert 'flags_raised_total{code="absolute_claim"}' in text
    assert 'model_active_info{name="kratom-claims",version="tiny.1"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
