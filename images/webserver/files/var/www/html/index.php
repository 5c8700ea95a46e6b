<?php
// Shows which programs served this request: the web server, PHP and its SAPI (fpm-fcgi when
// php-fpm ran it), and the container's host name.
header('Content-Type: text/html; charset=utf-8');

$facts = [
    'Web server' => $_SERVER['SERVER_SOFTWARE'] ?? 'unknown',
    'PHP version' => PHP_VERSION,
    'PHP SAPI' => PHP_SAPI,
    'Host name' => gethostname(),
    'Web server type' => getenv('DDEV_WEBSERVER_TYPE') ?: 'nginx-fpm',
    'Runs as' => posix_getpwuid(posix_geteuid())['name'] ?? (string) posix_geteuid(),
];
?>
<!doctype html>
<html lang="en">
<head><title>ddev-lab web container</title></head>
<body>
<h1>Served by the ddev-lab web container</h1>
<dl>
<?php foreach ($facts as $label => $value): ?>
  <dt><?= htmlspecialchars($label) ?></dt>
  <dd><?= htmlspecialchars((string) $value) ?></dd>
<?php endforeach; ?>
</dl>
</body>
</html>
