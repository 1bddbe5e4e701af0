"""The consumer: accounts and wallets, claims and certificates (gift, pledge, deposit, redeem),
verification and the scan page. Other areas use it only through
``service.consumer.interface``."""
