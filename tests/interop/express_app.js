"use strict";
/*
 * The Express side of the interop test (tests/test_express_interop.py): express-session on DynamoDB, with either
 * connect-dynamodb (npm) or the express-dynamodb store's layout (./express-dynamodb-store.js).
 *
 * Configured by the environment:
 *   PORT               port on 127.0.0.1
 *   DYNAMODB_ENDPOINT  the DynamoDB endpoint URL (dynalite in the tests)
 *   TABLE              the session table; it must exist
 *   STORE              "connect-dynamodb" or "express-dynamodb"
 *   SESSION_SECRET     express-session's secret (signs the connect.sid cookie)
 *   MAX_AGE_MS         the cookie's maxAge in milliseconds: the session's lifetime
 *
 * Routes (all GET, all answer JSON; the session data never includes express's `cookie` object):
 *   /login?user=U        regenerate, then user = U: {"data": {...}}
 *   /set?key=K&value=V   one assignment: {"data": {...}}
 *   /set-half-emoji?key=K  K = "🎉".slice(0, 1), a lone surrogate (valid in JavaScript, not in Unicode): {"data": {...}}
 *   /read                {"new": whether no stored session was loaded for this request, "data": {...}}
 *   /logout              destroy, clear the cookie: {"ok": true}
 *   /health              "ok" (no session)
 * A failing store call answers 500 {"error": message}. Prints "listening <port>" once it accepts connections.
 */

const express = require("express");
const session = require("express-session");
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const connectDynamoDB = require("connect-dynamodb");
const ExpressDynamoDBStore = require("./express-dynamodb-store");

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

required("DYNAMODB_ENDPOINT");
required("SESSION_SECRET");
const port = Number(required("PORT"));
const table = required("TABLE");
const storeName = required("STORE");
const maxAgeMs = Number(required("MAX_AGE_MS"));

// The README's Express recipe ("Sharing sessions with an Express app") is this file's client and session
// configuration, line for line: tests/test_express_interop.py checks it.
const client = new DynamoDBClient({
  endpoint: process.env.DYNAMODB_ENDPOINT, // a local server; leave it out on AWS
  region: "us-east-1",
  credentials: { accessKeyId: "local", secretAccessKey: "local" }, // local servers check none; leave it out on AWS
});

function makeStore() {
  if (storeName === "connect-dynamodb") {
    const ConnectDynamoDBStore = connectDynamoDB(session);
    return new ConnectDynamoDBStore({ table, client });
  }
  if (storeName === "express-dynamodb") {
    return new ExpressDynamoDBStore({ table, hashKey: "SessionID", client });
  }
  throw new Error(`unknown STORE ${JSON.stringify(storeName)}`);
}

const store = makeStore();

// express-session builds a session from what the store returned through createSession, handing it the real request
// (Store.load hands it a stand-in): so a request that reaches createSession had a live stored session.
const createSession = store.createSession;
store.createSession = function (req, sess) {
  req.loadedStoredSession = true;
  return createSession.call(this, req, sess);
};

const app = express();

app.get("/health", (req, res) => {
  res.type("text/plain").send("ok");
});

app.use(
  session({
    secret: process.env.SESSION_SECRET, // the Python side's cookie_secret (Tornado) or secret (Sanic)
    name: "connect.sid",
    store,
    resave: false, // save only a changed session: the Python side slides the expiry on every read
    saveUninitialized: false, // store no empty session
    rolling: false, // send the cookie when the session changes, not on every response
    cookie: { maxAge: maxAgeMs, httpOnly: true, path: "/", sameSite: "lax" }, // maxAge = session_max_age * 1000
  }),
);

function data(req) {
  if (!req.session) {
    return {};
  }
  const { cookie, ...rest } = req.session; // eslint-disable-line no-unused-vars
  return rest;
}

// Saved here rather than by express-session's end-of-response save, so that a failing save answers 500 instead of
// failing after the response has gone.
function saveAndAnswer(req, res, next) {
  req.session.save((error) => (error ? next(error) : res.json({ data: data(req) })));
}

app.get("/login", (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) {
      return next(error);
    }
    req.session.user = String(req.query.user);
    return saveAndAnswer(req, res, next);
  });
});

app.get("/set", (req, res, next) => {
  req.session[String(req.query.key)] = String(req.query.value);
  saveAndAnswer(req, res, next);
});

app.get("/set-half-emoji", (req, res, next) => {
  req.session[String(req.query.key)] = "🎉".slice(0, 1);
  saveAndAnswer(req, res, next);
});

app.get("/read", (req, res) => {
  res.json({ new: !req.loadedStoredSession, data: data(req) });
});

app.get("/logout", (req, res, next) => {
  req.session.destroy((error) => {
    if (error) {
      return next(error);
    }
    res.clearCookie("connect.sid", { path: "/" });
    return res.json({ ok: true });
  });
});

// eslint-disable-next-line no-unused-vars
app.use((error, req, res, next) => {
  process.stderr.write(`${error.stack || error}\n`);
  if (!res.headersSent) {
    res.status(500).json({ error: String(error.message || error) });
  }
});

const server = app.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${port}\n`);
});

process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
