import { describe, expect, it } from 'vitest';
import { classifyKafkaError, KafkaAccessError, securityOf } from '../../src/kafka/client.js';
import { Secret } from '../../src/secret.js';

/** The shapes kafkajs 2.2 gives these failures (seen against the test broker). */
function connectionError(message: string, code: string) {
  const cause = Object.assign(new Error(`Connection error: ${message}`), {
    name: 'KafkaJSConnectionError',
    code,
  });
  return Object.assign(new Error(`Connection error: ${message}`), {
    name: 'KafkaJSNumberOfRetriesExceeded',
    cause,
  });
}

const scram = {
  tls: {},
  sasl: { mechanism: 'scram-sha-512' as const, username: 'svc', password: new Secret('pw-123') },
};

describe('classifyKafkaError', () => {
  it('a SASL authentication failure is permanent, names the user and never the password', () => {
    const err = Object.assign(
      new Error('SASL SCRAM SHA512 authentication failed: Authentication failed due to invalid credentials'),
      { name: 'KafkaJSSASLAuthenticationError' },
    );
    const v = classifyKafkaError(err, scram);
    expect(v).toBeInstanceOf(KafkaAccessError);
    expect(v).toMatchObject({ code: 'KAFKA_AUTH_FAILED', retriable: false });
    expect((v as Error).message).toContain('user svc');
    expect((v as Error).message).not.toContain('pw-123');
  });

  it('certificate problems: untrusted, wrong host name, client certificate refused, not TLS', () => {
    const code = (e: Error) => (classifyKafkaError(e, scram) as KafkaAccessError).code;
    expect(
      code(connectionError('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')),
    ).toBe('KAFKA_TLS_UNTRUSTED');
    expect(
      code(
        connectionError("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'),
      ),
    ).toBe('KAFKA_TLS_UNTRUSTED');
    expect(
      code(
        connectionError(
          'sslv3 alert bad certificate\nSSL alert number 42',
          'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
        ),
      ),
    ).toBe('KAFKA_TLS_CLIENT_CERT');
    expect(code(connectionError('wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER'))).toBe(
      'KAFKA_TLS_FAILED',
    );
    const multi = classifyKafkaError(
      connectionError('alert\nSSL alert number 42', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'),
      scram,
    );
    expect((multi as Error).message).not.toContain('\n');
  });

  it('a hang-up is suspect (asked again before it counts), a refused connection is left to retries', () => {
    const closed = Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError' });
    expect(classifyKafkaError(closed, {})).toBe('suspect');
    expect(
      classifyKafkaError(connectionError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'), {}),
    ).toBeUndefined();
    expect(classifyKafkaError(new Error('anything else'), scram)).toBeUndefined();
  });

  it('securityOf names the protocol for logs', () => {
    expect(securityOf({})).toBe('PLAINTEXT');
    expect(securityOf(scram)).toBe('SASL_SSL/scram-sha-512');
    expect(securityOf({ tls: { cert: new Secret('c'), key: new Secret('k') } })).toBe('SSL+client-cert');
  });
});
