# Your app's settings page with Hookline's webhook settings inside: run beside your backend.
# HOOKLINE_URL=https://hooks.example.com HOOKLINE_KEY=hk_... python3 vendor_backend.py
import json, os, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

HOOKLINE, KEY = os.environ["HOOKLINE_URL"], os.environ["HOOKLINE_KEY"]  # --instance --scopes workspaces,portal

def hookline(method, path, body, workspace=None):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if workspace:
        headers["Hookline-Workspace"] = workspace
    req = urllib.request.Request(f"{HOOKLINE}/api/v1{path}", json.dumps(body).encode(), headers, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

def portal_url(company, email):
    hookline("POST", "/workspaces", {"slug": company, "name": company.title()})  # 409: it exists
    status, link = hookline("POST", "/portal-links", {"role": "admin", "email": email}, company)
    return link["data"]["url"]

class Settings(BaseHTTPRequestHandler):
    def do_GET(self):  # your own login decides the company and the email
        url = portal_url("acme", "ann@acme.example")
        if self.path == "/settings/webhooks?open=tab":
            self.send_response(303); self.send_header("Location", url); self.end_headers()
            return
        page = f'<h1>Settings → Webhooks</h1><iframe src="{url}" width="100%" height="800"></iframe>'
        self.send_response(200); self.send_header("Content-Type", "text/html"); self.end_headers()
        self.wfile.write(page.encode())

HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Settings).serve_forever()
