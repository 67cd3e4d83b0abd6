import assert from 'node:assert/strict';
import { renderCompose } from '../../src/render/compose';

const HEADER = (name: string) => `# Managed by berth: the Docker Compose project ${name}. Changes here are overwritten by the next \`berth install\`.\n`;

describe('compose files', () => {
  it('renders only what is set', () => {
    assert.equal(renderCompose({ name: 'app-web', services: { web: { image: 'nginx:1.26' } } }), `${HEADER('app-web')}name: app-web
services:
  web:
    image: nginx:1.26
`);
  });

  it('puts every key in one order whatever the spec\'s order, maps sorted by name, lists as given', () => {
    const rendered = renderCompose({
      volumes: { logs: {}, data: { labels: { 'b.label': '2', 'a.label': '1' } } },
      networks: { backend: { labels: { tier: 'db' }, internal: true } },
      services: {
        web: {
          networks: ['backend'],
          labels: { 'z.last': 'z', 'a.first': 'a' },
          logging: { options: { 'max-size': '10m', 'max-file': '3' }, driver: 'json-file' },
          stop_grace_period: '30s',
          restart: 'unless-stopped',
          depends_on: { db: { condition: 'service_healthy' }, cache: { condition: 'service_started' } },
          healthcheck: { start_period: '5s', retries: 3, timeout: '2s', interval: '10s', test: ['CMD-SHELL', 'curl -fsS http://127.0.0.1/ || exit 1'] },
          security_opt: ['no-new-privileges:true'],
          cap_add: ['NET_BIND_SERVICE'],
          cap_drop: ['ALL'],
          read_only: true,
          tmpfs: ['/tmp'],
          volumes: [
            { read_only: true, target: '/etc/app', source: '/etc/berth/app', type: 'bind' },
            { target: '/var/log/app', source: 'logs', type: 'volume' },
          ],
          ports: [{ protocol: 'tcp', host_ip: '::', published: 443, target: 8443 }],
          environment: { PORT: '8443', DEBUG: '0' },
          user: '101:101',
          command: ['serve', '--port', '8443'],
          entrypoint: ['/entrypoint.sh'],
          image: 'app:1',
        },
        db: { image: 'mariadb:11.8' },
      },
      name: 'app',
    });
    assert.equal(rendered, `${HEADER('app')}name: app
services:
  db:
    image: mariadb:11.8
  web:
    image: app:1
    entrypoint:
      - /entrypoint.sh
    command:
      - serve
      - --port
      - "8443"
    user: 101:101
    environment:
      DEBUG: "0"
      PORT: "8443"
    ports:
      - target: 8443
        published: 443
        host_ip: "::"
        protocol: tcp
    volumes:
      - type: bind
        source: /etc/berth/app
        target: /etc/app
        read_only: true
      - type: volume
        source: logs
        target: /var/log/app
    tmpfs:
      - /tmp
    read_only: true
    cap_drop:
      - ALL
    cap_add:
      - NET_BIND_SERVICE
    security_opt:
      - no-new-privileges:true
    healthcheck:
      test:
        - CMD-SHELL
        - curl -fsS http://127.0.0.1/ || exit 1
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 5s
    depends_on:
      cache:
        condition: service_started
      db:
        condition: service_healthy
    restart: unless-stopped
    stop_grace_period: 30s
    logging:
      driver: json-file
      options:
        max-file: "3"
        max-size: 10m
    labels:
      a.first: a
      z.last: z
    networks:
      - backend
networks:
  backend:
    internal: true
    labels:
      tier: db
volumes:
  data:
    labels:
      a.label: "1"
      b.label: "2"
  logs: {}
`);
  });
});
