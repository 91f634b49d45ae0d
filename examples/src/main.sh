#!/bin/sh
# The app: looks an entry up in the table the build made.
entry="${1:-libalpha 7}"
sum="$(echo "$entry" | sha256sum)"
if grep -qx "$sum" /opt/table/rows; then
  echo "hello from cachebuild: '$entry' is in the table"
else
  echo "'$entry' is not in the table"
  exit 1
fi
