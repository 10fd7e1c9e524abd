// Notes in S3 behind an HTTP API (payload 2.0). The client is made once, at init.
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

const s3 = new S3Client({});
const Bucket = process.env.BUCKET;

const reply = (statusCode, body) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export const handler = async (event) => {
  const id = event.pathParameters?.id;
  switch (event.routeKey) {
    case "PUT /notes/{id}":
      await s3.send(new PutObjectCommand({ Bucket, Key: id, Body: event.body ?? "" }));
      return reply(201, { id, saved: true });
    case "GET /notes/{id}":
      try {
        const found = await s3.send(new GetObjectCommand({ Bucket, Key: id }));
        return reply(200, { id, text: await found.Body.transformToString() });
      } catch (error) {
        if (error.name === "NoSuchKey") return reply(404, { id, error: "no such note" });
        throw error;
      }
    default: {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket }));
      return reply(200, { notes: (listed.Contents ?? []).map((item) => item.Key) });
    }
  }
};
