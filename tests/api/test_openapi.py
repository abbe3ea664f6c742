from openapi_spec_validator import validate


def test_openapi_spec_is_valid_and_describes_every_endpoint_and_error(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    for path in ["/v1/moderate", "/v1/moderate/batch", "/v1/taxonomy", "/v1/model", "/healthz",
                 "/readyz", "/metrics"]:
        assert path in paths, path
    for path in ["/v1/moderate", "/v1/moderate/batch"]:
        responses = paths[path]["post"]["responses"]
        assert {"200", "400", "413", "415", "422"} <= set(responses), responses
    assert "code points" in str(spec)


def test_interactive_docs_are_served(client):
    r = client.get("/docs")
    assert r.status_code == 200 and b"swagger" in r.data.lower()


def test_every_documented_error_is_a_problem(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["responses"]["DEFAULT_ERROR"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # the path's, not an operation
                continue
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                if status[0] in "45":
                    assert set(response.get("content", {})) == {"application/problem+json"}, (path, method, status)
