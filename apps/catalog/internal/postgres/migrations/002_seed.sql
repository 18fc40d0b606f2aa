-- Demo products. A migration runs once per database under the migration
-- lock, so two replicas starting together seed once, and an administrator's
-- later changes are never overwritten. The NOT EXISTS guard keeps a database
-- that already had products (restored from elsewhere) as it is.
INSERT INTO catalog.products (sku, name, description, price_cents, currency, stock)
SELECT v.sku, v.name, v.description, v.price_cents, 'USD', v.stock
FROM (VALUES
    ('MUG-001',    'Gopher Mug',           'A 350 ml ceramic mug with the Go gopher.',          1299, 50),
    ('TSHIRT-M',   'Fargate T-Shirt (M)',  'Soft cotton t-shirt, medium.',                      2499, 40),
    ('STICKER-10', 'Sticker Pack',         'Ten vinyl stickers for your laptop.',                 599, 200),
    ('HOODIE-L',   'Container Hoodie (L)', 'Warm hoodie for cold data centres, large.',         5499, 20),
    ('CAP-001',    'Cloud Cap',            'Adjustable baseball cap.',                          1999, 30),
    ('NOTEBOOK-A5','Design Notebook',      'A5 dotted notebook, 120 pages.',                     899, 75),
    ('BOTTLE-750', 'Steel Bottle',         'Insulated 750 ml steel bottle.',                    2199, 25),
    ('SOCKS-3',    'Microservice Socks',   'Three pairs of socks, each a different service.',   1499, 60)
) AS v (sku, name, description, price_cents, stock)
WHERE NOT EXISTS (SELECT 1 FROM catalog.products);
