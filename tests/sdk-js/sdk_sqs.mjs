// SQS through AWS_ENDPOINT_URL with the AWS SDK for JavaScript v3 (its SQS middleware checks
// every MD5OfBody it gets back), printed as one JSON line for the Python test.
import {
  SQSClient, CreateQueueCommand, SendMessageCommand, SendMessageBatchCommand,
  ReceiveMessageCommand, DeleteMessageBatchCommand, GetQueueUrlCommand,
} from "@aws-sdk/client-sqs";

const [name] = process.argv.slice(2);
const sqs = new SQSClient({});
const out = {};
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
out.url = QueueUrl;
const sent = await sqs.send(new SendMessageCommand({
  QueueUrl, MessageBody: "héllo from node",
  MessageAttributes: { kind: { DataType: "String", StringValue: "greeting" } },
}));
out.sent = { id: sent.MessageId, md5: sent.MD5OfMessageBody, attributesMd5: sent.MD5OfMessageAttributes };
const batch = await sqs.send(new SendMessageBatchCommand({
  QueueUrl, Entries: [{ Id: "a", MessageBody: "one" }, { Id: "b", MessageBody: "two" }],
}));
out.batch = batch.Successful.map((e) => e.Id).sort();
const got = await sqs.send(new ReceiveMessageCommand({
  QueueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], WaitTimeSeconds: 1,
}));
out.received = got.Messages.map((m) => ({ body: m.Body, attributes: m.MessageAttributes ?? null }))
  .sort((x, y) => x.body.localeCompare(y.body));
const deleted = await sqs.send(new DeleteMessageBatchCommand({
  QueueUrl, Entries: got.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
}));
out.deleted = deleted.Successful.length;
try {
  await sqs.send(new GetQueueUrlCommand({ QueueName: "no-such-queue" }));
  out.missing = "FOUND";
} catch (err) {
  out.missing = { name: err.name, status: err.$metadata?.httpStatusCode };
}
console.log(JSON.stringify(out));
