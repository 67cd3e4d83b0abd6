'use strict';
// Preloaded into a berth process (NODE_OPTIONS=--require) by tests: records every
// outgoing connection and name lookup to the file BERTH_NET_LOG, then lets it proceed.
const fs = require('node:fs');
const net = require('node:net');
const dns = require('node:dns');

const file = process.env.BERTH_NET_LOG;
const record = (what) => fs.appendFileSync(file, `${what}\n`);

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const target = args[0] && typeof args[0] === 'object' ? args[0] : { port: args[0], host: args[1] };
  if (!target.path) record(`connect ${target.host ?? 'localhost'}:${target.port}`);
  return connect.apply(this, args);
};
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6']) {
  const original = dns[name];
  dns[name] = function (host, ...rest) {
    record(`dns ${host}`);
    return original.call(this, host, ...rest);
  };
}
