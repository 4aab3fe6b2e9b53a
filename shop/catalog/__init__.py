"""What is sold: merchants and their review, products, images, and the catalogue's queries."""
