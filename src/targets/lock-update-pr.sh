if git diff --quiet -- @LOCK@ bundles; then
  echo "every pin is current"
  exit 0
fi
body="$RUNNER_TEMP/body.md"
{
  echo "luciac lock --update moved these image tags:"
  echo
  echo "| Image | Tag | Old digest | New digest |"
  echo "|---|---|---|---|"
  jq -r 'select(.reason == "lock-report") | .changes[] | "| \(.images | join(", ")) | `\(.reference)` | `\(.old // "none")` | `\(.new)` |"' "$RUNNER_TEMP/changes.json"
  echo
  echo "The bundles were rebuilt with luciac build --all --locked."
} > "$body"
git config user.name "github-actions[bot]"
git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
git switch -C "$HEAD_BRANCH"
git add @LOCK@ bundles
git commit -m "Update image pins (luciac lock --update)"
git push --force "https://x-access-token:${GH_TOKEN}@github.com/${GITHUB_REPOSITORY}.git" "HEAD:refs/heads/$HEAD_BRANCH"
if gh pr view "$HEAD_BRANCH" --json state --jq .state 2>/dev/null | grep -q OPEN; then
  gh pr edit "$HEAD_BRANCH" --body-file "$body"
else
  gh pr create --base "$BASE" --head "$HEAD_BRANCH" --title "Update image pins" --body-file "$body"
fi
