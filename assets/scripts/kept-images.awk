# The app images kept on the app host, from the release history (one line a
# deploy or rollback: when, deploy|rollback, the image, the image it replaced):
# the one running and the `keep` released last besides it, one a line.
# The same rule as keptImages in src/phases/release.ts (a unit test runs both).
#   awk -v keep=N -f kept-images.awk /var/lib/berth/<project>/releases
NF == 4 && ($2 == "deploy" || $2 == "rollback") { n++; kind[n] = $2; image[n] = $3; previous[n] = $4 }
END {
  if (n == 0) exit
  # Released, in order, each once: the install's image, then every deployed one (a rollback adds none).
  released[++m] = previous[1]; seen[previous[1]] = 1
  for (i = 1; i <= n; i++) if (kind[i] == "deploy" && !(image[i] in seen)) { released[++m] = image[i]; seen[image[i]] = 1 }
  current = image[n]
  print current
  for (i = m; i >= 1 && kept < keep; i--) if (released[i] != current) { print released[i]; kept++ }
}
