"""Getting raw files from the public servers: URL layouts, a verified resumable downloader, checksum lists."""
