"""Real payment gateways: WeChat Pay (API v3) and Alipay (OpenAPI, RSA2).

Each adapter speaks its gateway's documented protocol with our own signing code
(``cryptography`` for RSA and AES-GCM, ``urllib`` for HTTP): it creates the payment in fen,
verifies callbacks, queries and closes payments, refunds, and downloads the daily trade bill.
Every adapter is off until its settings are filled in (:func:`configured`); tests point the
base URL at a local fake of the gateway on 127.0.0.1 and run this same code.
"""
