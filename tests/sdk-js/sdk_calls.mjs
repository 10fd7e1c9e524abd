// Calls firebox through AWS_ENDPOINT_URL with the AWS SDK for JavaScript v3, as a user's
// Node.js code would, and prints what came back as one JSON line for the Python test.
import { LambdaClient, ListFunctionsCommand, InvokeCommand, GetFunctionCommand } from "@aws-sdk/client-lambda";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const [fn] = process.argv.slice(2);
const lambda = new LambdaClient({});
const sts = new STSClient({});
const out = {};
out.functions = (await lambda.send(new ListFunctionsCommand({}))).Functions.map((f) => f.FunctionName);
const invoked = await lambda.send(new InvokeCommand({ FunctionName: fn, Payload: new TextEncoder().encode('{"from": "node"}') }));
out.payload = JSON.parse(new TextDecoder().decode(invoked.Payload));
out.identity = await sts.send(new GetCallerIdentityCommand({}));
delete out.identity.$metadata;
try {
  await lambda.send(new GetFunctionCommand({ FunctionName: "no-such-function" }));
  out.missing = "FOUND";
} catch (err) {
  out.missing = { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
}
console.log(JSON.stringify(out));
