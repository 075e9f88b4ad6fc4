"""Platform exports (issue 22): each read as its platform documents it, from a small hand-made file whose columns
follow the platform's export, with the customers, orders, revenue and returns counted by hand in the comments.
Also the generic rule behind them: order-level fields written only on an order's first line are carried to the
other lines of the order, in any file — and only blanks, only by a real order id, only when the lines agree.
The same exports read on Spark: tests/test_spark_platforms.py."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.ingest import clean_file, inspect_file
from pipeline.ingest.platforms import PLATFORMS, recognise

# Shopify orders export (Orders > Export): the order's own columns only on its first line.
# Kept: #1001 ann 2×10.00 + 1×12.50 = 32.50; #1002 bob 40.00 + 3×5.00 = 55.00 (15.00 refunded); #1004 cara
# 10.00 + 8.00 + 2×1.50 = 21.00; #1006 bob 12.50 (12.50 refunded). Left out: #1003 pending (1 line), #1005
# voided (2 lines). 3 customers, 4 orders, 121.00; returns 15.00 + 12.50 = 27.50.
SHOPIFY = """\
Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Total,Created at,Lineitem quantity,\
Lineitem name,Lineitem price,Lineitem sku,Billing Name,Shipping Country,Cancelled at,Payment Method,Refunded Amount
#1001,ann@example.com,paid,2024-05-01 10:02:00 +0000,fulfilled,USD,32.50,37.50,2024-05-01 10:00:00 +0000,2,Crew Tee,\
10.00,TEE-1,Ann Lee,US,,Shopify Payments,0.00
#1001,,,,,,,,,1,Mug,12.50,MUG-1,,,,,
#1002,bob@example.com,partially_refunded,2024-05-03 09:00:00 +0000,fulfilled,USD,55.00,60.00,\
2024-05-03 08:59:00 +0000,1,Hoodie,40.00,HOOD-1,Bob Roe,US,,Shopify Payments,15.00
#1002,,,,,,,,,3,Socks,5.00,SOCK-1,,,,,
#1003,ann@example.com,pending,,unfulfilled,USD,18.00,18.00,2024-05-04 12:00:00 +0000,1,Cap,18.00,CAP-1,Ann Lee,\
US,,Bank Deposit,0.00
#1004,cara@example.com,paid,2024-05-06 15:30:00 +0000,fulfilled,USD,21.00,26.00,2024-05-06 15:29:00 +0000,1,\
Crew Tee,10.00,TEE-1,Cara Diaz,CA,,Shopify Payments,0.00
#1004,,,,,,,,,1,Poster,8.00,POST-1,,,,,
#1004,,,,,,,,,2,Sticker,1.50,STICK-1,,,,,
#1005,dan@example.com,voided,,unfulfilled,USD,22.50,22.50,2024-05-07 11:00:00 +0000,1,Mug,12.50,MUG-1,Dan Wu,US,\
2024-05-07 13:00:00 +0000,Shopify Payments,0.00
#1005,,,,,,,,,1,Crew Tee,10.00,TEE-1,,,,,
#1006,bob@example.com,refunded,2024-05-08 10:00:00 +0000,fulfilled,USD,12.50,12.50,2024-05-08 09:58:00 +0000,1,\
Mug,12.50,MUG-1,Bob Roe,US,,Shopify Payments,12.50
"""

# WooCommerce Customer/Order/Coupon Export, "Default - One Row per Item": order fields on every row, refunds per
# item (item_refunded, item_refunded_qty negative as WooCommerce stores it). Kept: 101 jo 24.00 + 6.00 = 30.00;
# 102 kim (guest, customer_id 0) 12.00; 103 jo 45.00 + 24.00 = 69.00 (one candle, 12.00, refunded); 106 lee
# 12.00 + 12.00 = 24.00. Left out: 104 on-hold, 105 failed. 3 customers, 4 orders, 135.00; returns 12.00.
WOOCOMMERCE = """\
order_id,order_number,order_date,status,shipping_total,tax_total,order_total,refunded_total,order_currency,\
payment_method,customer_id,billing_first_name,billing_email,billing_country,item_name,item_sku,item_quantity,\
item_total,item_refunded,item_refunded_qty
101,101,2024-03-02 09:15:00,completed,5.00,0.00,35.00,0.00,EUR,stripe,7,Jo,jo@example.com,DE,Candle,CAN-1,2,24.00,0,0
101,101,2024-03-02 09:15:00,completed,5.00,0.00,35.00,0.00,EUR,stripe,7,Jo,jo@example.com,DE,Soap,SOAP-1,1,6.00,0,0
102,102,2024-03-05 14:40:00,processing,5.00,0.00,17.00,0.00,EUR,paypal,0,Kim,kim@example.com,FR,Candle,CAN-1,1,12.00,0,0
103,103,2024-03-07 18:05:00,completed,0.00,0.00,69.00,12.00,EUR,stripe,7,Jo,jo@example.com,DE,Lamp,LAMP-1,1,45.00,0,0
103,103,2024-03-07 18:05:00,completed,0.00,0.00,69.00,12.00,EUR,stripe,7,Jo,jo@example.com,DE,Candle,CAN-1,2,24.00,\
12.00,-1
104,104,2024-03-09 08:00:00,on-hold,5.00,0.00,23.00,0.00,EUR,bacs,0,Kim,kim@example.com,FR,Soap,SOAP-1,3,18.00,0,0
105,105,2024-03-10 20:30:00,failed,0.00,0.00,45.00,0.00,EUR,stripe,0,Lee,lee@example.com,NL,Lamp,LAMP-1,1,45.00,0,0
106,106,2024-03-12 11:11:00,completed,0.00,0.00,24.00,0.00,EUR,stripe,0,Lee,lee@example.com,NL,Soap,SOAP-1,2,12.00,0,0
106,106,2024-03-12 11:11:00,completed,0.00,0.00,24.00,0.00,EUR,stripe,0,Lee,lee@example.com,NL,Candle,CAN-1,1,12.00,0,0
"""

# Magento / Adobe Commerce, Sales > Orders grid exported to CSV: one row per order. Kept: 1 veronica 45.00, 2 roni
# 120.50, 4 alex 80.00 (closed: 80.00 refunded), 5 roni 64.00 (14.00 refunded), 7 veronica 52.25. Left out:
# 3 pending, 6 canceled. 3 customers, 5 orders, 361.75; returns 80.00 + 14.00 = 94.00.
MAGENTO = """\
ID,Purchase Point,Purchase Date,Bill-to Name,Ship-to Name,Grand Total (Base),Grand Total (Purchased),Status,\
Billing Address,Shipping Address,Shipping Information,Customer Email,Customer Group,Subtotal,Shipping and Handling,\
Customer Name,Payment Method,Total Refunded
000000001,Main Website,"Mar 9, 2024 10:20:31 AM",Veronica Costello,Veronica Costello,$45.00,$45.00,Complete,\
"6146 Honey Bluff Parkway,Calder,Michigan,49628",same,Flat Rate - Fixed,veronica@example.com,General,$40.00,$5.00,\
Veronica Costello,checkmo,
000000002,Main Website,"Mar 12, 2024 2:05:10 PM",Roni Cost,Roni Cost,$120.50,$120.50,Processing,\
"1 Main St,Austin,Texas,78701",same,Flat Rate - Fixed,roni@example.com,General,$115.50,$5.00,Roni Cost,checkmo,
000000003,Main Website,"Mar 15, 2024 9:00:00 AM",Veronica Costello,Veronica Costello,$30.00,$30.00,Pending,\
"6146 Honey Bluff Parkway,Calder,Michigan,49628",same,Flat Rate - Fixed,veronica@example.com,General,$25.00,$5.00,\
Veronica Costello,checkmo,
000000004,Main Website,"Mar 20, 2024 4:45:00 PM",Alex Kim,Alex Kim,$80.00,$80.00,Closed,\
"9 Elm St,Denver,Colorado,80202",same,Flat Rate - Fixed,alex@example.com,Wholesale,$75.00,$5.00,Alex Kim,\
braintree,$80.00
000000005,Main Website,"Mar 22, 2024 11:11:11 AM",Roni Cost,Roni Cost,$64.00,$64.00,Complete,\
"1 Main St,Austin,Texas,78701",same,Flat Rate - Fixed,roni@example.com,General,$59.00,$5.00,Roni Cost,braintree,\
$14.00
000000006,Main Website,"Mar 25, 2024 1:30:00 PM",Alex Kim,Alex Kim,$25.00,$25.00,Canceled,\
"9 Elm St,Denver,Colorado,80202",same,Flat Rate - Fixed,alex@example.com,Wholesale,$20.00,$5.00,Alex Kim,checkmo,
000000007,Main Website,"Mar 28, 2024 3:00:00 PM",Veronica Costello,Veronica Costello,$52.25,$52.25,Complete,\
"6146 Honey Bluff Parkway,Calder,Michigan,49628",same,Flat Rate - Fixed,veronica@example.com,General,$47.25,$5.00,\
Veronica Costello,checkmo,$0.00
"""

# BigCommerce, Orders > Export, default template: one row per order, items in "Product Details"; guests have
# Customer ID 0, so the customer is the e-mail. Kept: 100 pat 60.00, 101 sam (guest) 35.00, 103 sam 90.00 (30.00
# refunded), 105 lou 42.50. Left out: 102 awaiting payment, 104 declined. 3 customers, 4 orders, 227.50; returns 30.00.
BIGCOMMERCE = """\
Order ID,Customer ID,Customer Name,Customer Email,Customer Phone,Order Date,Order Status,Subtotal (inc tax),\
Subtotal (ex tax),Tax Total,Shipping Cost (inc tax),Ship Method,Order Total (inc tax),Order Total (ex tax),\
Payment Method,Total Quantity,Order Currency Code,Product Details,Refund Amount
100,12,Pat Doe,pat@example.com,555-0100,14/02/2024,Completed,55.00,50.00,5.00,5.00,Flat Rate,60.00,55.00,\
Credit Card,2,AUD,"Product ID: 77, Product Qty: 2, Product SKU: MUG-1, Product Name: Mug, Product Unit Price: 27.50",0.00
101,0,Sam Roe,sam@example.com,555-0101,18/02/2024,Shipped,35.00,31.82,3.18,0.00,Free Shipping,35.00,31.82,\
PayPal,1,AUD,"Product ID: 80, Product Qty: 1, Product SKU: TEA-1, Product Name: Tea, Product Unit Price: 35.00",0.00
102,12,Pat Doe,pat@example.com,555-0100,21/02/2024,Awaiting Payment,20.00,18.18,1.82,0.00,Free Shipping,20.00,\
18.18,Bank Deposit,1,AUD,"Product ID: 81, Product Qty: 1, Product SKU: CUP-1, Product Name: Cup, Product Unit Price: 20.00",\
0.00
103,0,Sam Roe,sam@example.com,555-0101,25/02/2024,Partially Refunded,90.00,81.82,8.18,0.00,Free Shipping,90.00,\
81.82,Credit Card,3,AUD,"Product ID: 77, Product Qty: 3, Product SKU: MUG-1, Product Name: Mug, Product Unit Price: 30.00",\
30.00
104,15,Lou Ng,lou@example.com,555-0102,27/02/2024,Declined,15.00,13.64,1.36,0.00,Free Shipping,15.00,13.64,\
Credit Card,1,AUD,"Product ID: 82, Product Qty: 1, Product SKU: SPN-1, Product Name: Spoon, Product Unit Price: 15.00",0.00
105,15,Lou Ng,lou@example.com,555-0102,29/02/2024,Awaiting Fulfillment,42.50,38.64,3.86,0.00,Free Shipping,42.50,\
38.64,Credit Card,1,AUD,"Product ID: 83, Product Qty: 1, Product SKU: POT-1, Product Name: Pot, Product Unit Price: 42.50",\
0.00
"""

# Square, Items > Item Sales > Export (items detail): one row per item, refunds as their own rows with negative
# Qty and Gross Sales; walk-in sales have no customer. Square lists completed payments only (no pending ones).
# Kept: T1 A 9.00 + 3.50 = 12.50; T2 B 5.00; T3 A 4.50 + 6.00 = 10.50; T5 C 10.00. T4 has no customer (dropped);
# the muffin refund on T3 (3.00) is a return. 3 customers, 4 orders, 38.00; returns 3.00.
SQUARE = """\
Date,Time,Time Zone,Category,Item,Qty,Price Point Name,SKU,Modifiers Applied,Gross Sales,Discounts,Net Sales,Tax,\
Transaction ID,Payment ID,Device Name,Notes,Details,Event Type,Location,Dining Option,Customer ID,Customer Name,\
Customer Reference ID
2024-06-01,10:02:11,Eastern Time (US & Canada),Coffee,Latte,2,Regular,LAT-1,,$9.00,$0.00,$9.00,$0.72,T1,P1,Bar iPad,\
,,Payment,Main St,For Here,CUST-A,Ana Ruiz,
2024-06-01,10:02:11,Eastern Time (US & Canada),Pastries,Croissant,1,Regular,CRO-1,,$3.50,$0.00,$3.50,$0.28,T1,P1,\
Bar iPad,,,Payment,Main St,For Here,CUST-A,Ana Ruiz,
2024-06-02,08:15:40,Eastern Time (US & Canada),Coffee,Mocha,1,Regular,MOC-1,,$5.00,$0.00,$5.00,$0.40,T2,P2,Bar iPad,\
,,Payment,Main St,To Go,CUST-B,Ben Ode,
2024-06-03,09:00:05,Eastern Time (US & Canada),Coffee,Latte,1,Regular,LAT-1,,$4.50,$0.00,$4.50,$0.36,T3,P3,Bar iPad,\
,,Payment,Main St,For Here,CUST-A,Ana Ruiz,
2024-06-03,09:00:05,Eastern Time (US & Canada),Pastries,Muffin,2,Regular,MUF-1,,$6.00,$0.00,$6.00,$0.48,T3,P3,\
Bar iPad,,,Payment,Main St,For Here,CUST-A,Ana Ruiz,
2024-06-04,12:30:00,Eastern Time (US & Canada),Coffee,Latte,1,Regular,LAT-1,,$4.50,$0.00,$4.50,$0.36,T4,P4,Bar iPad,\
,,Payment,Main St,To Go,,,
2024-06-05,10:10:10,Eastern Time (US & Canada),Pastries,Muffin,-1,Regular,MUF-1,,-$3.00,$0.00,-$3.00,-$0.24,T3,P3R,\
Bar iPad,,,Refund,Main St,For Here,CUST-A,Ana Ruiz,
2024-06-06,16:45:00,Eastern Time (US & Canada),Coffee,Mocha,2,Regular,MOC-1,,$10.00,$0.00,$10.00,$0.80,T5,P5,\
Bar iPad,,,Payment,Main St,To Go,CUST-C,Cy Park,
"""

# Stripe, Payments > Export (unified payments): one row per payment, refunds as "Amount Refunded" on it.
# Kept: ch_1 A 129.00, ch_2 B 49.00, ch_3 C 129.00 (refunded in full), ch_5 A 1,000.00 (250.00 refunded), ch_7 B
# 49.00. Left out: ch_4 failed, ch_6 uncaptured. 3 customers, 5 orders, 1,356.00; returns 129.00 + 250.00 = 379.00.
STRIPE = """\
id,Created date (UTC),Amount,Amount Refunded,Currency,Captured,Converted Amount,Fee,Status,Description,Customer ID,\
Customer Email,Customer Description,PaymentIntent ID,Seller Message,Decline Reason,Card Brand
ch_1,2024-04-01 09:12:33,129.00,0.00,usd,true,129.00,4.04,Paid,Pro plan,cus_A,a@example.com,Ada,pi_1,\
Payment complete.,,Visa
ch_2,2024-04-03 18:40:02,49.00,0.00,usd,true,49.00,1.72,Paid,Starter,cus_B,b@example.com,Ben,pi_2,Payment complete.,,\
Visa
ch_3,2024-04-05 07:05:10,129.00,129.00,usd,true,129.00,4.04,Refunded,Pro plan,cus_C,c@example.com,Cy,pi_3,\
Payment complete.,,Mastercard
ch_4,2024-04-06 11:00:00,89.00,0.00,usd,false,89.00,0.00,Failed,Team plan,cus_D,d@example.com,Di,pi_4,\
The bank declined the payment.,card_declined,Visa
ch_5,2024-04-09 13:30:00,"1,000.00",250.00,usd,true,"1,000.00",29.30,Paid,Enterprise,cus_A,a@example.com,Ada,pi_5,\
Payment complete.,,Visa
ch_6,2024-04-10 16:20:00,49.00,0.00,usd,false,49.00,0.00,Uncaptured,Starter,cus_B,b@example.com,Ben,pi_6,\
Payment authorized.,,Visa
ch_7,2024-04-12 10:00:00,49.00,0.00,usd,true,49.00,1.72,Paid,Starter,cus_B,b@example.com,Ben,pi_7,\
Payment complete.,,Visa
"""

# PayPal, Activity > Download (all transactions): payments received, a refund (negative Gross, the buyer in
# "To Email Address"), a pending payment, and money moved for other reasons (withdrawal, currency conversion, a memo
# authorization). Kept: jana 1,250.00, peter 80.00 + 45.50, lina 30.00. 3 customers, 4 orders, 1,405.50;
# returns: jana 250.00.
PAYPAL = """\
"Date","Time","TimeZone","Name","Type","Status","Currency","Gross","Fee","Net","From Email Address",\
"To Email Address","Transaction ID","Item Title","Item ID","Reference Txn ID","Invoice Number","Quantity","Balance",\
"Balance Impact"
"01/14/2024","10:00:00","PST","Jana Mala","Express Checkout Payment","Completed","USD","1,250.00","-43.40",\
"1,206.60","jana@example.com","shop@example.com","1AB11111","Desk","D1","","INV-1","1","1,206.60","Credit"
"01/15/2024","11:30:00","PST","Peter Paul","Website Payment","Completed","USD","80.00","-3.12","76.88",\
"peter@example.com","shop@example.com","2CD22222","Lamp","L1","","INV-2","1","1,283.48","Credit"
"01/16/2024","09:05:00","PST","Jana Mala","Payment Refund","Completed","USD","-250.00","0.00","-250.00",\
"shop@example.com","jana@example.com","3EF33333","Desk","D1","1AB11111","INV-1","","1,033.48","Debit"
"01/17/2024","14:00:00","PST","Max Moe","Express Checkout Payment","Pending","USD","60.00","-2.04","57.96",\
"max@example.com","shop@example.com","4GH44444","Chair","C1","","INV-3","1","1,033.48","Credit"
"01/18/2024","08:00:00","PST","","General Withdrawal","Completed","USD","-1,000.00","0.00","-1,000.00",\
"shop@example.com","","5IJ55555","","","","","","33.48","Debit"
"01/19/2024","08:30:00","PST","","General Currency Conversion","Completed","USD","-20.00","0.00","-20.00",\
"shop@example.com","","6KL66666","","","","","","13.48","Debit"
"01/20/2024","17:45:00","PST","Peter Paul","Express Checkout Payment","Completed","USD","45.50","-1.62","43.88",\
"peter@example.com","shop@example.com","7MN77777","Shade","S1","","INV-4","1","57.36","Credit"
"01/21/2024","12:00:00","PST","Lina Lu","Mobile Payment","Completed","USD","30.00","-1.17","28.83",\
"lina@example.com","shop@example.com","8OP88888","Vase","V1","","INV-5","1","86.19","Credit"
"01/22/2024","13:00:00","PST","Jana Mala","General Authorization","Pending","USD","-15.00","0.00","-15.00",\
"shop@example.com","jana@example.com","9QR99999","","","","","","86.19","Memo"
"""

# Etsy, Shop Manager > Settings > Options > Download Data > Orders (EtsySoldOrders): one row per order; a refund
# shows as an Adjusted Order Total below the Order Total. Etsy orders are paid at sale (no pending ones). Kept: 3001
# 777 76.00, 3002 888 34.50 (10.00 refunded), 3003 777 16.00, 3004 999 52.00 (refunded in full: adjusted 0.00),
# 3005 888 24.00, 3006 1010 40.00. 4 customers, 6 orders, 242.50; returns 10.00 + 52.00 = 62.00.
ETSY_ORDERS = """\
Sale Date,Order ID,Buyer User ID,Full Name,First Name,Last Name,Number of Items,Payment Method,Date Shipped,\
Street 1,Street 2,Ship City,Ship State,Ship Zipcode,Ship Country,Currency,Order Value,Coupon Code,Coupon Details,\
Discount Amount,Shipping Discount,Shipping,Sales Tax,Order Total,Status,Card Processing Fees,Order Net,\
Adjusted Order Total,Adjusted Card Processing Fees,Adjusted Net Order Amount,Buyer,Order Type,Payment Type,\
InPerson Discount,InPerson Location,SKU
09/03/24,3001,777,Jane Doe,Jane,Doe,2,Credit Card,09/05/24,12 Secret Lane,,Kamloops,BC,V2C 1A1,Canada,USD,68.00,,,\
0,0,8.00,0,76.00,Completed,2.53,73.47,,,,janedoe,online,online_cc,,,
09/14/24,3002,888,Bob Smith,Bob,Smith,1,Credit Card,09/16/24,99 Hidden Road,,Seattle,WA,98101,United States,USD,\
30.00,,,0,0,4.50,0,34.50,Completed,1.20,33.30,24.50,0.85,23.65,bobsmith,online,online_cc,,,
09/20/24,3003,777,Jane Doe,Jane,Doe,1,Credit Card,09/22/24,12 Secret Lane,,Kamloops,BC,V2C 1A1,Canada,USD,12.00,,,\
0,0,4.00,0,16.00,Completed,0.75,15.25,,,,janedoe,online,online_cc,,,
09/22/24,3004,999,Kim Lane,Kim,Lane,3,PayPal,,5 Oak Ave,,Denver,CO,80202,United States,USD,45.00,,,0,0,7.00,0,\
52.00,,1.81,50.19,0.00,0.00,0.00,kimlane,online,paypal,,,
09/25/24,3005,888,Bob Smith,Bob,Smith,1,Credit Card,09/27/24,99 Hidden Road,,Seattle,WA,98101,United States,USD,\
20.00,,,0,0,4.00,0,24.00,Completed,0.97,23.03,,,,bobsmith,online,online_cc,,,
09/28/24,3006,1010,Lee Park,Lee,Park,2,Credit Card,09/30/24,3 Pine Rd,,Portland,OR,97201,United States,USD,36.00,\
WELCOME10,10% off,3.60,0,7.60,0,40.00,Completed,1.45,38.55,,,,leepark,online,online_cc,,,
"""

# Etsy, Download Data > Order Items (EtsySoldOrderItems): one row per item, every row carrying its order's fields.
# Kept: 3001 coolbuyer42 2×5.00 + 3.00 = 13.00, 3002 otherbuyer 5.00, 3003 coolbuyer42 3×5.00 + 2×3.00 = 21.00.
# 2 customers, 3 orders, 39.00.
ETSY_ITEMS = """\
Sale Date,Item Name,Buyer,Quantity,Price,Coupon Code,Coupon Details,Discount Amount,Shipping Discount,\
Order Shipping,Order Sales Tax,Item Total,Currency,Transaction ID,Listing ID,Date Paid,Date Shipped,Ship Name,\
Ship Address1,Ship City,Ship State,Ship Zipcode,Ship Country,Order ID,Variations,Order Type,Listings Type,\
Payment Type,InPerson Discount,InPerson Location,VAT Paid by Buyer,SKU
08/14/24,Sunset Fox | Greeting Card,coolbuyer42,2,5.00,,,,,4.50,0.62,10.00,USD,4001,9001,08/14/24,08/15/24,Jane Doe,\
1 Main St,Austin,TX,78701,United States,3001,Style: Matte,online,listing,online_cc,,,,FOX-01
08/14/24,Sunset Fox | Sticker,coolbuyer42,1,3.00,,,,,0.00,0.00,3.00,USD,4002,9002,08/14/24,08/15/24,Jane Doe,\
1 Main St,Austin,TX,78701,United States,3001,Style: Glossy,online,listing,online_cc,,,,FOX-ST
09/02/24,Moon Bear | Greeting Card,otherbuyer,1,5.00,,,,,4.50,0.00,5.00,USD,4003,9003,09/02/24,09/04/24,Bob Roe,\
2 Oak Ave,Denver,CO,80202,United States,3002,Style: Matte,online,listing,paypal,,,,BEAR-01
09/15/24,Moon Bear | Greeting Card,coolbuyer42,3,5.00,,,,,4.50,0.00,15.00,USD,4004,9003,09/15/24,09/17/24,Jane Doe,\
1 Main St,Austin,TX,78701,United States,3003,Style: Matte,online,listing,online_cc,,,,BEAR-01
09/15/24,Sunset Fox | Sticker,coolbuyer42,2,3.00,,,,,0.00,0.00,6.00,USD,4005,9002,09/15/24,09/17/24,Jane Doe,\
1 Main St,Austin,TX,78701,United States,3003,Style: Glossy,online,listing,online_cc,,,,FOX-ST
"""

#: platform key -> (file text, mapping it must get, customers, orders, revenue, [return amounts], lines left out as
#: not paid or no sale)
CASES = {
    "shopify": (SHOPIFY, {"customer_id": "Email", "invoice_id": "Name", "date": "Created at",
                          "quantity": "Lineitem quantity", "unit_price": "Lineitem price", "amount": None},
                3, 4, 121.00, [12.50, 15.00], 3),
    "woocommerce": (WOOCOMMERCE, {"customer_id": "billing_email", "invoice_id": "order_number", "date": "order_date",
                                  "quantity": "item_quantity", "amount": "item_total"}, 3, 4, 135.00, [12.00], 2),
    "magento": (MAGENTO, {"customer_id": "Customer Email", "invoice_id": "ID", "date": "Purchase Date",
                          "amount": "Grand Total (Purchased)"}, 3, 5, 361.75, [14.00, 80.00], 2),
    "bigcommerce": (BIGCOMMERCE, {"customer_id": "Customer Email", "invoice_id": "Order ID", "date": "Order Date",
                                  "amount": "Order Total (inc tax)"}, 3, 4, 227.50, [30.00], 2),
    "square": (SQUARE, {"customer_id": "Customer ID", "invoice_id": "Transaction ID", "date": "Date",
                        "quantity": "Qty", "amount": "Gross Sales"}, 3, 4, 38.00, [3.00], 0),
    "stripe": (STRIPE, {"customer_id": "Customer ID", "invoice_id": "id", "date": "Created date (UTC)",
                        "amount": "Amount", "quantity": None}, 3, 5, 1356.00, [129.00, 250.00], 2),
    "paypal": (PAYPAL, {"customer_id": "From Email Address", "invoice_id": "Transaction ID", "date": "Date",
                        "amount": "Gross", "quantity": None}, 3, 4, 1405.50, [250.00], 4),
    "etsy_orders": (ETSY_ORDERS, {"customer_id": "Buyer User ID", "invoice_id": "Order ID", "date": "Sale Date",
                                  "amount": "Order Total"}, 4, 6, 242.50, [10.00, 52.00], 0),
    "etsy_items": (ETSY_ITEMS, {"customer_id": "Buyer", "invoice_id": "Order ID", "date": "Sale Date",
                                "quantity": "Quantity", "unit_price": "Price", "amount": "Item Total"},
                   2, 3, 39.00, [], 0),
}


def _write(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("key", list(CASES))
def test_platform_export_reads_as_counted_by_hand(tmp_path, key):
    text, mapping, customers, orders, revenue, returns, left_out = CASES[key]
    platform = next(p for p in PLATFORMS if p.key == key)
    res = clean_file(_write(tmp_path, key, text))
    assert {r: res.mapping[r] for r in mapping} == mapping
    rep = res.report
    assert rep.notes[0].startswith(f"Read as a {platform.label}")
    assert (rep.customers, rep.invoices, rep.revenue) == (customers, orders, pytest.approx(revenue, abs=1e-6))
    assert sorted(res.returns["amount"].round(2)) == returns and rep.return_lines == len(returns)
    assert res.returns["invoice_id"].notna().all() and res.returns["customer_id"].notna().all()
    assert rep.dropped["cancellation_or_return"] == len(returns) and rep.dropped["duplicate_row"] == 0
    said = " ".join(rep.notes)
    assert (f"{left_out:,} lines" in said) == bool(left_out) or key == "paypal"
    if returns:
        assert f"{len(returns):,} refunds" in said or key in ("square", "paypal")


def test_platform_is_named_when_the_file_is_inspected(tmp_path):
    ins = inspect_file(_write(tmp_path, "shopify", SHOPIFY))
    assert ins.kind == "transactions" and "Shopify orders export" in ins.kind_reason
    assert ins.mapping["customer_id"] == "Email" and "Shopify" in ins.reasons["invoice_id"]


def test_paypal_refund_goes_to_the_buyer_and_other_money_is_no_sale(tmp_path):
    res = clean_file(_write(tmp_path, "paypal", PAYPAL))
    assert list(res.returns["customer_id"]) == ["jana@example.com"]
    said = " ".join(res.report.notes)
    assert "3 lines are no sales" in said and "General Withdrawal" in said
    assert "1 lines of 1 orders are not purchases" in said and "Pending" in said
    assert "shop@example.com" not in set(res.transactions["customer_id"])


def test_shopify_order_fields_reach_every_line(tmp_path):
    res = clean_file(_write(tmp_path, "shopify", SHOPIFY))
    tx = res.transactions
    assert len(tx) == 8 and tx["customer_id"].notna().all() and (tx["country"].notna()).all()
    mug = tx[(tx["invoice_id"] == "#1001") & (tx["product_name"] == "Mug")].iloc[0]
    assert mug["customer_id"] == "ann@example.com" and str(mug["date"]) == "2024-05-01 10:00:00"
    assert any("carried to 5 other lines of 4 orders" in n for n in res.report.notes)   # #1001-2, #1004-5


@pytest.mark.parametrize("header,kept", [
    # a shop export with the documented header cut down to a few columns is still Shopify, by its values
    ("Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Refunded Amount", True),
])
def test_recognised_by_headers_and_content(header, kept):
    cols = header.split(",")
    good = pd.DataFrame([["#1", "a@x.com", "paid", "2024-01-01 10:00:00 +0000", "1", "Tee", "10.00", "0.00"]],
                        columns=cols)
    assert (recognise(cols, good) is not None) == kept and recognise(cols, good).key == "shopify"
    # the same headers over other content (statuses no Shopify export writes, no dates) are not a Shopify export
    bad = good.assign(**{"Financial Status": "approved by manager", "Created at": "headquarters"})
    assert recognise(cols, bad) is None


# --- the generic rule: order-level fields only on an order's first line, in a file of no known platform --------

FIRST_LINE_ONLY = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,,3.39,,
536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,,2.75,,
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850,United Kingdom
536366,22632,HAND WARMER RED POLKA DOT,6,,1.85,,
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047,United Kingdom
536367,22745,POPPY'S PLAYHOUSE BEDROOM,6,,2.10,,
536367,22748,POPPY'S PLAYHOUSE KITCHEN,6,,2.10,,
536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,13047,France
536369,21756,BATH BUILDING BLOCK WORD,3,2010-12-01 08:35:00,5.95,,United Kingdom
536369,21755,LOVE BUILDING BLOCK WORD,3,,5.95,,
"""
# 536365: 15.30 + 20.34 + 22.00 = 57.64; 536366: 11.10 + 11.10 = 22.20; 536367: 54.08 + 12.60 + 12.60 = 79.28;
# 536368: 25.50. 536369 has no customer on any line: nothing to carry, both lines stay without one.
# 2 customers (17850, 13047), 4 orders, 184.62; 9 lines kept, 2 dropped for no customer id.


def test_first_line_only_fields_are_filled_within_each_order(tmp_path):
    res = clean_file(_write(tmp_path, "first_line_only", FIRST_LINE_ONLY))
    rep = res.report
    assert (rep.rows_out, rep.customers, rep.invoices) == (9, 2, 4) and rep.revenue == pytest.approx(184.62)
    assert rep.dropped["missing_customer_id"] == 2 and rep.dropped["unparseable_date"] == 0
    assert not rep.notes[0].startswith("Read as a")
    assert any("carried to 6 other lines of 4 orders" in n for n in rep.notes)   # 536369: its date
    france = res.transactions[res.transactions["invoice_id"] == "536368"]
    assert list(france["country"]) == ["France"]
    assert set(res.transactions.loc[res.transactions["invoice_id"] == "536367", "country"]) == {"United Kingdom"}


def test_a_line_id_is_no_order_id_so_nothing_is_filled(tmp_path):
    """Every line has its own "invoice" (a line id): blanks are real gaps, never filled from a neighbour."""
    lines = FIRST_LINE_ONLY.splitlines()
    out = [lines[0]] + [f"{i}{line[6:]}" for i, line in enumerate(lines[1:], 900001)]
    res = clean_file(_write(tmp_path, "line_ids", "\n".join(out) + "\n"))
    assert res.report.dropped["missing_customer_id"] == 7 and res.report.rows_out == 4      # 5 + 536369's 2
    assert not any("carried to" in n for n in res.report.notes)


def test_lines_that_disagree_are_not_filled_and_values_never_overwritten(tmp_path):
    """Groups whose filled lines hold different customers (the column groups visits, not orders): no fill at all;
    and where one order disagrees among agreeing ones, that order's blanks stay blank."""
    visits = """\
Visit,Customer,Date,Amount
V1,c1,2024-01-01,10.00
V1,c2,2024-01-01,12.00
V1,,2024-01-01,5.00
V2,c3,2024-01-02,7.00
V2,c4,2024-01-02,8.00
V2,,2024-01-02,9.00
"""
    res = clean_file(_write(tmp_path, "visits", visits), mapping={"customer_id": "Customer", "invoice_id": "Visit",
                                                                    "date": "Date", "amount": "Amount"})
    assert res.report.dropped["missing_customer_id"] == 2 and not any("carried to" in n for n in res.report.notes)
    assert set(res.transactions["customer_id"]) == {"c1", "c2", "c3", "c4"}
    # 40 orders of 3 lines, customer and date on the first line only; order 7 names a second customer on line 2
    rows = ["Order,Customer,Date,Item,Amount"]
    for k in range(40):
        rows += [f"O{k},c{k % 9},2024-02-{k % 28 + 1:02d},a,10.00", f"O{k},{'x9' if k == 7 else ''},,b,5.00",
                 f"O{k},,,c,2.50"]
    res = clean_file(_write(tmp_path, "disagree", "\n".join(rows) + "\n"))
    tx, rep = res.transactions, res.report
    assert set(tx.loc[tx["invoice_id"] == "O7", "customer_id"]) == {"c7", "x9"}     # nothing overwritten
    assert rep.dropped["missing_customer_id"] == 1 and rep.rows_out == 119         # only O7's third line
    assert rep.revenue == pytest.approx(40 * 17.50 - 2.50)
    assert any("carried to 80 other lines of 40 orders" in n for n in rep.notes)


@pytest.mark.parametrize("key", list(CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_mangled_platform_exports_give_a_result_or_one_clear_error(tmp_path, key, seed):
    """A third of the cells of each export replaced by junk (blanks, words, quotes, signs): cleaning gives a report
    or one DataError, never another exception."""
    import csv
    import io

    import numpy as np

    from pipeline.errors import DataError

    rng = np.random.default_rng(seed)
    junk = ["", "n/a", "-", "#", "1e309", "'; DROP TABLE raw; --", "(12.50)", "-0", "pending", "refunded", "💥"]
    rows = list(csv.reader(io.StringIO(CASES[key][0])))
    for row in rows[1:]:
        for j in range(len(row)):
            if rng.random() < 0.33:
                row[j] = junk[rng.integers(len(junk))]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    try:
        rep = clean_file(_write(tmp_path, key, out.getvalue())).report
    except DataError as e:
        assert "\n" not in str(e)
    else:
        assert rep.rows_out >= 1 and all(isinstance(n, str) for n in rep.notes)


def test_magento_dates_in_icu_medium_format(tmp_path):
    """Magento on a recent ICU writes "Mar 9, 2024, 10:20:31 AM" with a narrow no-break space before AM/PM."""
    import re

    text = re.sub(r'"(\w{3} \d{1,2}, \d{4}) (\d{1,2}:\d{2}:\d{2}) (AM|PM)"', "\"\\1, \\2\u202f\\3\"", MAGENTO)
    assert text.count("\u202f") == 7
    res = clean_file(_write(tmp_path, "magento_icu", text))
    assert res.report.notes[0].startswith("Read as a Magento / Adobe Commerce orders export")
    assert (res.report.customers, res.report.invoices, res.report.revenue) == (3, 5, pytest.approx(361.75))
    assert res.report.date_min == "2024-03-09 10:20:31" and res.report.date_max == "2024-03-28 15:00:00"


ORDER_TOTAL_ON_LINES = """\
Order number,Date created,Contact email,Item,Qty,Price,Total,Currency
2001,2024-07-01,ana@example.com,Pen,2,3.00,16.00,EUR
2001,2024-07-01,ana@example.com,Pad,1,10.00,16.00,EUR
2002,2024-07-02,ben@example.com,Pen,1,3.00,7.50,EUR
2002,2024-07-02,ben@example.com,Ink,1,4.50,7.50,EUR
2003,2024-07-03,ana@example.com,Pad,2,10.00,23.00,EUR
2003,2024-07-03,ana@example.com,Pen,1,3.00,23.00,EUR
2004,2024-07-04,cy@example.com,Ink,3,4.50,16.50,EUR
2004,2024-07-04,cy@example.com,Pen,1,3.00,16.50,EUR
2005,2024-07-05,ben@example.com,Pad,1,10.00,13.00,EUR
2005,2024-07-05,ben@example.com,Pen,1,3.00,13.00,EUR
"""
# No known platform. "Total" is the order's total written on each of its lines: the lines are worth Qty × Price:
# 2001 16.00, 2002 7.50, 2003 23.00, 2004 16.50, 2005 13.00 = 76.00 (the Total column summed per line: 152.00).


def test_an_order_total_written_on_every_line_is_no_line_amount(tmp_path):
    res = clean_file(_write(tmp_path, "order_total", ORDER_TOTAL_ON_LINES))
    assert res.mapping["customer_id"] == "Contact email" and res.mapping["amount"] is None
    assert (res.mapping["quantity"], res.mapping["unit_price"]) == ("Qty", "Price")
    assert (res.report.customers, res.report.invoices, res.report.revenue) == (3, 5, pytest.approx(76.00))
    assert "holds the order's total" in res.report.mapping_reasons["unit_price"]
