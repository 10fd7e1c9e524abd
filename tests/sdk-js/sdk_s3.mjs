// S3 through AWS_ENDPOINT_URL with the AWS SDK for JavaScript v3: a streamed upload goes as an
// aws-chunked body with a trailing CRC32 checksum (what current SDKs send), a multipart upload,
// a read with checksum validation, and a typed error; printed as one JSON line for the test.
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand,
  CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
} from "@aws-sdk/client-s3";
import { Readable } from "node:stream";

const [bucket] = process.argv.slice(2);
const s3 = new S3Client({ forcePathStyle: true });
const out = {};
await s3.send(new CreateBucketCommand({ Bucket: bucket }));
const text = "streamed from node ".repeat(5000);
const put = await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: "streamed.txt", Body: Readable.from([Buffer.from(text)]),
  ContentLength: Buffer.byteLength(text), ContentType: "text/plain",
}));
out.put = { etag: put.ETag, crc32: put.ChecksumCRC32 ?? null };
const got = await s3.send(new GetObjectCommand({
  Bucket: bucket, Key: "streamed.txt", ChecksumMode: "ENABLED",
}));
out.got = { body: await got.Body.transformToString(), crc32: got.ChecksumCRC32 ?? null,
            type: got.ContentType };
const part = Buffer.alloc(5 * 1024 * 1024, 7);
const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "mp.bin" }));
const p1 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "mp.bin", UploadId, PartNumber: 1, Body: part }));
const p2 = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: "mp.bin", UploadId, PartNumber: 2, Body: Buffer.from("tail") }));
const done = await s3.send(new CompleteMultipartUploadCommand({
  Bucket: bucket, Key: "mp.bin", UploadId,
  MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
}));
out.multipart = { etag: done.ETag, size: (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "mp.bin" }))).ContentLength };
try {
  await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "missing" }));
} catch (err) {
  out.missing = { name: err.name, status: err.$metadata.httpStatusCode };
}
console.log(JSON.stringify(out));
