<?php
// Connects to the project database at host name db with DDEV's credentials (user db, password
// db, database db) and shows which server accepted: MariaDB on 3306, else PostgreSQL on 5432.
header('Content-Type: text/plain; charset=utf-8');

$servers = [
    'MariaDB' => 'mysql:host=db;port=3306;dbname=db',
    'PostgreSQL' => 'pgsql:host=db;port=5432;dbname=db',
];
$failures = [];

foreach ($servers as $name => $dsn) {
    try {
        $pdo = new PDO($dsn, 'db', 'db', [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_TIMEOUT => 2,
        ]);
        $version = $pdo->query('SELECT version()')->fetchColumn();
        echo "Connected to {$name} at db: {$version}\n";
        exit;
    } catch (PDOException $error) {
        $failures[] = "{$name}: {$error->getMessage()}";
    }
}

http_response_code(503);
echo "No database accepted a connection at host db.\n" . implode("\n", $failures) . "\n";
