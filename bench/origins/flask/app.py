"""The user API of the Flask service tiercache succeeds, as an origin for loadbench.

The original kept its users in a dict in the process and cached each answer in
Redis itself. Here there is no Redis: the caching proxy in front of the app is
the cache, so the app answers from its dict every time. Like the original, it
sends no Cache-Control; the proxy in front decides how long to keep an answer.

Run: python3 app.py --port 5001 --users 1000 (users user0 ... user999).
"""

import argparse
import logging
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)
users = {}  # username -> {"username": ..., "email": ...}
lock = threading.Lock()  # guards users and counts
counts = {"gets": 0, "puts": 0, "others": 0}


@app.before_request
def count():
    if request.path == "/_stats":
        return
    kind = {"GET": "gets", "HEAD": "gets", "PUT": "puts"}.get(request.method, "others")
    with lock:
        counts[kind] += 1


@app.get("/_stats")
def stats():
    """Requests served, this one aside: loadbench counts what reaches the origin."""
    with lock:
        return jsonify(counts)


def user_fields():
    """The JSON body's username and email, or None when either is missing or not a string."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return None
    name, email = body.get("username"), body.get("email")
    if not isinstance(email, str) or (name is not None and not isinstance(name, str)):
        return None
    return name, email


@app.post("/register")
def register():
    fields = user_fields()
    if fields is None or not fields[0]:
        return jsonify(error="Username and email are required."), 400
    name, email = fields
    with lock:
        users[name] = {"username": name, "email": email}  # an existing user is overwritten, as before
    return jsonify(message=f"User '{name}' registered successfully!", data=users[name])


@app.get("/user/<name>")
def get_user(name):
    with lock:
        user = users.get(name)
    if user is None:
        return jsonify(error="User not found."), 404
    return jsonify(message=f"User '{name}' retrieved from memory.", data=user)


@app.put("/user/<name>")
def put_user(name):
    """Changes a user's email. The original had no update; loadbench's mixed workload needs a write."""
    fields = user_fields()
    if fields is None:
        return jsonify(error="An email is required."), 400
    with lock:
        if name not in users:
            return jsonify(error="User not found."), 404
        users[name] = {"username": name, "email": fields[1]}
        user = users[name]
    return jsonify(message=f"User '{name}' updated.", data=user)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--users", type=int, default=0, help="users user0 ... user(N-1) to register at start")
    args = p.parse_args()
    for n in range(args.users):
        users[f"user{n}"] = {"username": f"user{n}", "email": f"user{n}@example.com"}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app.run(host=args.host, port=args.port, threaded=True)  # Flask's own server, one thread per connection


if __name__ == "__main__":
    main()
