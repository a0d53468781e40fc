"""Real ML software behind switchyard/tests/explain_shap.rs.

Trains, on scikit-learn's bundled diabetes data, a gradient-boosted champion and a linear
challenger; serves both with MLServer (mlserver-sklearn) over the Open Inference Protocol;
and runs an explainer service that computes SHAP values with the `shap` library and
answers in KServe v1 `:explain` shape (Alibi's `{meta, data}` JSON, as KServe's Alibi
explainer returns it):

  POST /v1/models/{gbr|linear}:explain   {"instances": rows} -> SHAP of those rows
  POST /v1/models/slow:explain           the same as gbr, after sleeping 5 s
  POST /inline/clf                       an OIP model answer (breast-cancer random forest,
                                         predict_proba) with SHAP inline: one explanation
                                         output holding shap's [instances][features][outputs]

It prints one JSON line on stdout: ports and the reference data computed here directly
with `shap` (the rows the test sends, their SHAP values, base values and predictions),
then serves until its stdin closes (the test process ended), and stops MLServer.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib
import numpy as np
import shap
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LinearRegression


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train():
    data = load_diabetes()
    x, y = data.data, data.target
    train_x, train_y, test_x = x[:400], y[:400], x[400:442]
    gbr = GradientBoostingRegressor(n_estimators=60, max_depth=3, random_state=0).fit(train_x, train_y)
    linear = LinearRegression().fit(train_x, train_y)
    explainers = {
        "gbr": (gbr, shap.TreeExplainer(gbr), "TreeShap"),
        "linear": (linear, shap.LinearExplainer(linear, train_x), "LinearShap"),
    }
    cancer = load_breast_cancer()
    clf = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0).fit(cancer.data, cancer.target)
    return data.feature_names, test_x, explainers, cancer, clf


def shap_of(explainer, rows):
    values = np.asarray(explainer.shap_values(rows), dtype=float)
    base = float(np.ravel(explainer.expected_value)[0])
    return values, base


def alibi_answer(name, model, explainer, method, rows, feature_names):
    values, base = shap_of(explainer, rows)
    return {
        "meta": {"name": method, "type": ["blackbox"], "explanations": ["local"], "params": {}},
        "data": {
            "shap_values": [values.tolist()],
            "expected_value": [base],
            "feature_names": list(feature_names),
            "categorical_names": {},
            "raw": {"raw_prediction": model.predict(rows).tolist(), "instances": rows.tolist()},
        },
    }


def write_model_repository(root, models):
    for name, (model, _, _) in models.items():
        d = os.path.join(root, name)
        os.makedirs(d)
        joblib.dump(model, os.path.join(d, "model.joblib"))
        with open(os.path.join(d, "model-settings.json"), "w") as f:
            json.dump({"name": name, "implementation": "mlserver_sklearn.SKLearnModel",
                       "parameters": {"uri": "./model.joblib", "version": "v1"}}, f)


def start_mlserver(root):
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump({**ports, "parallel_workers": 0, "debug": False, "host": "127.0.0.1"}, f)
    log = open(os.path.join(root, "mlserver.log"), "w")
    mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
    proc = subprocess.Popen([mlserver, "start", root], stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{ports['http_port']}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("mlserver exited:\n" + open(os.path.join(root, "mlserver.log")).read())
        try:
            ready = all(urllib.request.urlopen(f"{url}/v2/models/{m}/ready", timeout=1).status == 200
                        for m in ("gbr", "linear"))
            if ready:
                return proc, ports["http_port"]
        except Exception:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("mlserver did not become ready in 120 s")


def explainer_server(feature_names, models, cancer, clf):
    tree = shap.TreeExplainer(clf)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body):
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            path = self.path
            if path.startswith("/v1/models/") and path.endswith(":explain"):
                name = path[len("/v1/models/"):-len(":explain")]
                if name == "slow":
                    time.sleep(5)
                    name = "gbr"
                if name not in models:
                    return self.answer(404, {"error": f"no model {name}"})
                rows = np.asarray(body["instances"], dtype=float)
                model, explainer, method = models[name]
                return self.answer(200, alibi_answer(name, model, explainer, method, rows, feature_names))
            if path == "/inline/clf":
                inp = body["inputs"][0]
                rows = np.asarray(inp["data"], dtype=float).reshape(inp["shape"])
                values = np.asarray(tree.shap_values(rows), dtype=float)  # [n][features][outputs]
                expl = {"shap_values": values.tolist(), "expected_value": np.ravel(tree.expected_value).tolist(),
                        "feature_names": list(cancer.feature_names)}
                proba = clf.predict_proba(rows)
                return self.answer(200, {"model_name": "clf", "outputs": [
                    {"name": "predict_proba", "shape": list(proba.shape), "datatype": "FP64",
                     "data": proba.ravel().tolist()},
                    {"name": "explanation", "shape": [1], "datatype": "BYTES", "data": [json.dumps(expl)]}]})
            return self.answer(404, {"error": "unknown route"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    started = time.time()
    feature_names, test_x, models, cancer, clf = train()
    root = tempfile.mkdtemp(prefix="switchyard-mlserver-")
    write_model_repository(root, models)
    proc, mlserver_port = start_mlserver(root)
    explainer_port = explainer_server(feature_names, models, cancer, clf)
    reference = {}
    for name, (model, explainer, _) in models.items():
        values, base = shap_of(explainer, test_x)
        reference[name] = {"shap": values.tolist(), "base": base, "predict": model.predict(test_x).tolist()}
    clf_rows = cancer.data[:3]
    clf_values = np.asarray(shap.TreeExplainer(clf).shap_values(clf_rows), dtype=float)
    print(json.dumps({
        "mlserver_port": mlserver_port,
        "explainer_port": explainer_port,
        "feature_names": list(feature_names),
        "rows": test_x.tolist(),
        "reference": reference,
        "clf": {"rows": clf_rows.tolist(), "feature_names": list(cancer.feature_names),
                "shap": clf_values.tolist(), "proba": clf.predict_proba(clf_rows).tolist()},
        "versions": {"mlserver": __import__("mlserver").__version__, "shap": shap.__version__,
                     "sklearn": __import__("sklearn").__version__},
        "startup_seconds": round(time.time() - started, 1),
    }), flush=True)
    try:
        sys.stdin.read()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
