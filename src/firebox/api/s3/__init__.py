"""S3's REST-XML API: recognising S3 requests, parsing them into calls of the object
store, and answering in S3's XML."""
