"use strict";
/*
 * An express-session Store with the item layout and behaviour of the GitHub-only "dynamodb-session-store"
 * (MRobertEvers/dynamodb-session-store, never published to npm), written again on the AWS SDK v3 client so that the
 * interop test can run a real Express app against that layout:
 *
 *   { <hashKey>: S the raw session id,
 *     Expires:   N whole seconds since the epoch, floor((now_ms + cookie.maxAge or 5 minutes) / 1000),
 *     Session:   S JSON.stringify(session), express's `cookie` object included }
 *
 * get      GetItem (ConsistentRead); no item, or now >= Expires (now in whole seconds): no session.
 * set      PutItem of those three attributes, nothing else.
 * touch    UpdateItem "set Expires = :e", unconditional (so it recreates a key-and-Expires-only item after a
 *          destroy).
 * destroy  DeleteItem.
 * An unexpired item without Session is an error on get, as in the original (it reads Session unguarded), so a test
 * sees a writer that leaves such items behind.
 * The table must exist: this store never creates it.
 */

const { Store } = require("express-session");
const {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} = require("@aws-sdk/client-dynamodb");

const SESSION = "Session";
const EXPIRES = "Expires";
const DEFAULT_LIFETIME_MS = 5 * 60 * 1000;

class ExpressDynamoDBStore extends Store {
  /** options: {table, hashKey, client} (client: a DynamoDBClient; one with default settings if omitted). */
  constructor({ table, hashKey, client }) {
    super();
    this.table = table;
    this.hashKey = hashKey;
    this.client = client || new DynamoDBClient({});
  }

  /** Whole seconds since the epoch at which the session ends: now plus the cookie's remaining lifetime. */
  expiresAt(session) {
    const lifetime = session.cookie && session.cookie.maxAge ? session.cookie.maxAge : DEFAULT_LIFETIME_MS;
    return Math.floor((Date.now() + lifetime) / 1000);
  }

  key(sid) {
    return { [this.hashKey]: { S: sid } };
  }

  get(sid, callback) {
    const read = this.client
      .send(new GetItemCommand({ TableName: this.table, Key: this.key(sid), ConsistentRead: true }))
      .then(({ Item: item }) => {
        const now = Math.floor(Date.now() / 1000);
        if (!item) {
          return null;
        }
        if (item[EXPIRES] && now >= parseInt(item[EXPIRES].N, 10)) {
          return null;
        }
        if (!item[SESSION]) {
          // The original fails here too (it reads Session.S unguarded): such an item is not one it can serve.
          throw new Error(`the item of session ${sid} has no ${SESSION} attribute`);
        }
        return JSON.parse(item[SESSION].S);
      });
    settle(read, callback);
  }

  set(sid, session, callback) {
    const item = {
      ...this.key(sid),
      [EXPIRES]: { N: String(this.expiresAt(session)) },
      [SESSION]: { S: JSON.stringify(session) },
    };
    settle(this.client.send(new PutItemCommand({ TableName: this.table, Item: item })), callback);
  }

  touch(sid, session, callback) {
    const update = new UpdateItemCommand({
      TableName: this.table,
      Key: this.key(sid),
      UpdateExpression: `set ${EXPIRES} = :e`,
      ExpressionAttributeValues: { ":e": { N: String(this.expiresAt(session)) } },
      ReturnValues: "UPDATED_NEW",
    });
    settle(this.client.send(update), callback);
  }

  destroy(sid, callback) {
    settle(this.client.send(new DeleteItemCommand({ TableName: this.table, Key: this.key(sid) })), callback);
  }
}

/** Node-style callback from a promise; an error thrown by the callback itself is not fed back to it. */
function settle(promise, callback = () => {}) {
  promise.then(
    (value) => callback(null, value),
    (error) => callback(error),
  );
}

module.exports = ExpressDynamoDBStore;
