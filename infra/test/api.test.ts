import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logicalId, resourcesOfType, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const resources = template.toJSON().Resources as Record<string, any>;

/** Full path of an AWS::ApiGateway::Resource, e.g. /status/{job_id}. */
function pathOf(resourceId: unknown): string {
  const ref = resourceId as any;
  if (ref['Fn::GetAtt']) return ''; // the root resource
  const r = resources[ref.Ref];
  return `${pathOf(r.Properties.ParentId)}/${r.Properties.PathPart}`;
}

const methods = Object.values(resourcesOfType(template, 'AWS::ApiGateway::Method')).map((m) => ({
  path: pathOf(m.Properties.ResourceId) || '/',
  verb: m.Properties.HttpMethod as string,
  props: m.Properties,
}));
const routes = methods.filter((m) => m.verb !== 'OPTIONS');

const EXPECTED_ROUTES: Record<string, string> = {
  'GET /presigned-url': 'ApiPresignedUrl',
  'POST /process': 'ApiProcess',
  'GET /status/{job_id}': 'ApiStatus',
  'GET /results/{job_id}': 'ApiResults',
  'GET /openapi.json': 'ApiOpenApi',
};

describe('REST API', () => {
  test('exposes exactly the five routes', () => {
    assert.deepEqual(routes.map((m) => `${m.verb} ${m.path}`).sort(), Object.keys(EXPECTED_ROUTES).sort());
  });

  test('every route requires an API key', () => {
    for (const m of routes) assert.equal(m.props.ApiKeyRequired, true, `${m.verb} ${m.path}`);
  });

  test('only CORS preflight is open, and it is a mock (never reaches a function)', () => {
    const open = methods.filter((m) => m.props.ApiKeyRequired !== true);
    assert.ok(open.length > 0);
    for (const m of open) {
      assert.equal(m.verb, 'OPTIONS', `${m.verb} ${m.path} must require a key`);
      assert.equal(m.props.Integration.Type, 'MOCK');
    }
  });

  test('each route is proxied to its own function', () => {
    for (const m of routes) {
      const fn = EXPECTED_ROUTES[`${m.verb} ${m.path}`];
      assert.equal(m.props.Integration.Type, 'AWS_PROXY');
      const uri = JSON.stringify(m.props.Integration.Uri);
      assert.ok(uri.includes(`"${logicalId(stack, stack.functions[fn])}"`), `${m.verb} ${m.path} -> ${fn}`);
      for (const [other, otherFn] of Object.entries(EXPECTED_ROUTES)) {
        if (otherFn !== fn) assert.ok(!uri.includes(`"${logicalId(stack, stack.functions[otherFn])}"`), other);
      }
    }
  });

  test('requests are validated: body model on POST /process, path parameters on job routes', () => {
    const validators = Object.entries(resourcesOfType(template, 'AWS::ApiGateway::RequestValidator'));
    assert.equal(validators.length, 1);
    const [validatorId, validator] = validators[0];
    assert.equal(validator.Properties.ValidateRequestBody, true);
    assert.equal(validator.Properties.ValidateRequestParameters, true);
    for (const m of routes) assert.deepEqual(m.props.RequestValidatorId, { Ref: validatorId }, `${m.verb} ${m.path}`);

    const process = routes.find((m) => m.path === '/process');
    const modelRef = process?.props.RequestModels['application/json'];
    const model = resources[modelRef.Ref].Properties;
    assert.deepEqual(model.Schema.required, ['s3_uri']);
    assert.equal(model.Schema.properties.s3_uri.type, 'string');
    for (const path of ['/status/{job_id}', '/results/{job_id}']) {
      const m = routes.find((r) => r.path === path);
      assert.deepEqual(m?.props.RequestParameters, { 'method.request.path.job_id': true });
    }
  });

  for (const type of ['INVALID_API_KEY', 'MISSING_AUTHENTICATION_TOKEN']) {
    test(`${type} answers 401 {"error":{"code":"Unauthorized",...}}`, () => {
      const responses = Object.values(resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse')).filter(
        (r) => r.Properties.ResponseType === type,
      );
      assert.equal(responses.length, 1);
      const r = responses[0].Properties;
      assert.equal(r.StatusCode, '401');
      const body = JSON.parse(r.ResponseTemplates['application/json']);
      assert.deepEqual(Object.keys(body), ['error']);
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
      assert.equal(body.error.code, 'Unauthorized');
      assert.ok(body.error.message.length > 10);
      assert.equal(r.ResponseParameters['gatewayresponse.header.Access-Control-Allow-Origin'], "'*'");
    });
  }

  test('other gateway errors keep the {"error":{code,message}} shape', () => {
    const responses = Object.values(resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse'));
    for (const r of responses) {
      // $context.error.messageString is a quoted JSON string; give it a sample value to parse.
      const body = JSON.parse(
        r.Properties.ResponseTemplates['application/json'].replace('$context.error.messageString', '"sample"'),
      );
      assert.equal(typeof body.error.code, 'string', r.Properties.ResponseType);
      assert.equal(typeof body.error.message, 'string', r.Properties.ResponseType);
    }
    const types = responses.map((r) => r.Properties.ResponseType).sort();
    for (const t of ['BAD_REQUEST_BODY', 'THROTTLED', 'DEFAULT_4XX', 'DEFAULT_5XX']) assert.ok(types.includes(t), t);
  });

  test('usage plan throttles the stage and holds the API key', () => {
    const [plan] = Object.values(resourcesOfType(template, 'AWS::ApiGateway::UsagePlan'));
    const stageId = logicalId(stack, stack.api.deploymentStage);
    assert.equal(plan.Properties.ApiStages.length, 1);
    assert.deepEqual(plan.Properties.ApiStages[0].ApiId, { Ref: logicalId(stack, stack.api) });
    assert.deepEqual(plan.Properties.ApiStages[0].Stage, { Ref: stageId });
    assert.deepEqual(plan.Properties.Throttle, { BurstLimit: 20, RateLimit: 10 });
    const [planKey] = Object.values(resourcesOfType(template, 'AWS::ApiGateway::UsagePlanKey'));
    assert.equal(planKey.Properties.KeyType, 'API_KEY');
    assert.equal(Object.keys(resourcesOfType(template, 'AWS::ApiGateway::ApiKey')).length, 1);
    assert.equal(resources[logicalId(stack, stack.api)].Properties.ApiKeySourceType, 'HEADER');
  });

  test('stage has access logging, error logging, metrics and tracing', () => {
    const [stage] = Object.values(resourcesOfType(template, 'AWS::ApiGateway::Stage'));
    const p = stage.Properties;
    assert.equal(p.StageName, 'v1');
    const logGroupId = p.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    assert.equal(resources[logGroupId].Type, 'AWS::Logs::LogGroup');
    const format = JSON.parse(p.AccessLogSetting.Format);
    assert.equal(format.requestId, '$context.requestId');
    assert.equal(format.status, '$context.status');
    assert.equal(p.TracingEnabled, true);
    assert.deepEqual(p.MethodSettings, [
      {
        DataTraceEnabled: false,
        HttpMethod: '*',
        LoggingLevel: 'ERROR',
        MetricsEnabled: true,
        ResourcePath: '/*',
        ThrottlingBurstLimit: 20,
        ThrottlingRateLimit: 10,
      },
    ]);
  });

  test('no account-wide API Gateway role unless asked for', () => {
    assert.deepEqual(resourcesOfType(template, 'AWS::ApiGateway::Account'), {});
    const { template: withRole } = synthTemplate({ createApiGatewayAccountRole: 'true' });
    assert.equal(Object.keys(resourcesOfType(withRole, 'AWS::ApiGateway::Account')).length, 1);
  });

  test('CORS preflight allows the x-api-key header', () => {
    const preflight = methods.find((m) => m.verb === 'OPTIONS' && m.path === '/process');
    const headers =
      preflight?.props.Integration.IntegrationResponses[0].ResponseParameters[
        'method.response.header.Access-Control-Allow-Headers'
      ];
    assert.match(headers, /X-Api-Key/);
  });
});
